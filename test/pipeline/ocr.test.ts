/**
 * The example `ocr` pipeline end to end on the real PP-OCRv4 models, served by a real server from
 * examples/model_repository, on images rendered here with known text.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceServer } from '../../src/server/inference-server.js';
import { HttpFrontend } from '../../src/frontends/http/index.js';
import { InferenceError, type InferenceResponse } from '../../src/core/index.js';
import { renderText, type TextLine } from './render-text.js';
import { fromUtf8, utf8 } from './helpers.js';

const repo = join(import.meta.dirname, '..', '..', 'examples', 'model_repository');
let server: InferenceServer;
before(async () => {
  server = await InferenceServer.create({ modelRepositories: [repo] });
});
after(() => server?.close());

async function ocr(image: Uint8Array): Promise<{ text: string[]; boxes: number[][] }> {
  const r: InferenceResponse = await server.infer({ model: 'ocr', inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [image] }] });
  const text = r.outputs.find((t) => t.name === 'text')!;
  const boxes = r.outputs.find((t) => t.name === 'boxes')!;
  assert.deepEqual(boxes.shape, [text.shape[0], 4]);
  const b = Array.from(boxes.data as Float32Array);
  return { text: (text.data as Uint8Array[]).map(fromUtf8), boxes: text.shape[0] ? Array.from({ length: text.shape[0] }, (_, i) => b.slice(i * 4, i * 4 + 4)) : [] };
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** Characters wrong over characters expected, summed over lines matched in order. */
function charErrorRate(got: string[], want: string[]): number {
  return editDistance(got.join('\n'), want.join('\n')) / want.join('\n').length;
}

test('clean printed lines are read (almost) exactly, top to bottom, with boxes around them', async () => {
  const lines: TextLine[] = [
    { text: 'Batch size 8, p99 latency 42ms', x: 24, y: 50 },
    { text: 'The quick brown fox jumps over the lazy dog', x: 24, y: 110 },
    { text: 'Invoice 2026-11-24: total 1234.56 EUR', x: 24, y: 170 },
  ];
  const png = await renderText({ width: 760, height: 200, lines });
  const got = await ocr(png);
  assert.equal(got.text.length, 3, JSON.stringify(got.text));
  const cer = charErrorRate(got.text, lines.map((l) => l.text));
  assert.ok(cer <= 0.02, `character error rate ${cer.toFixed(3)}: ${JSON.stringify(got.text)}`);
  assert.equal(got.text[0], 'Batch size 8, p99 latency 42ms');
  got.boxes.forEach(([x0, y0, x1, y1], i) => {
    // The box holds the line: it starts near x = 24 and spans the baseline's neighbourhood (28 px font).
    assert.ok(x0 >= 0 && x0 < 30 && x1 > 300 && x1 <= 760, `box ${i}: ${[x0, y0, x1, y1]}`);
    assert.ok(y0 < lines[i].y - 12 && y1 > lines[i].y && y1 < lines[i].y + 20, `box ${i}: ${[x0, y0, x1, y1]}`);
  });
});

test('a photo-like page: gray, noisy, blurred JPEG with two columns', async () => {
  const left = ['Left column one', 'second line here', 'third 12345'];
  const right = ['Right side text', 'more words 789', 'final entry'];
  const lines: TextLine[] = [
    ...left.map((text, i) => ({ text, x: 20, y: 50 + i * 60 })),
    ...right.map((text, i) => ({ text, x: 480, y: 50 + i * 60 })),
  ];
  const jpeg = await renderText({ width: 900, height: 230, lines, noise: 40, blur: 0.6, background: 215, format: 'jpeg', seed: 7 });
  const got = await ocr(jpeg);
  // Reading order: rows top to bottom, left column before right within a row.
  const want = [left[0], right[0], left[1], right[1], left[2], right[2]];
  assert.equal(got.text.length, 6, JSON.stringify(got.text));
  const cer = charErrorRate(got.text, want);
  assert.ok(cer <= 0.08, `character error rate ${cer.toFixed(3)}: ${JSON.stringify(got.text)}`);
  got.boxes.forEach(([x0], i) => assert.equal(x0 < 450, i % 2 === 0, `line ${i} in the wrong column: ${got.boxes[i]}`));
});

test('the README example: examples/model_repository/ocr/sample.png reads as the README says', async () => {
  const got = await ocr(readFileSync(join(repo, 'ocr', 'sample.png')));
  assert.deepEqual(got.text, ['Hello from Open-AutoGLM', 'p99 latency 42 ms']);
});

test('an image without text gives no lines; base64 text is accepted like raw bytes', async () => {
  const blank = await renderText({ width: 300, height: 120, lines: [] });
  const none = await ocr(blank);
  assert.deepEqual(none, { text: [], boxes: [] });
  const png = await renderText({ width: 420, height: 70, lines: [{ text: 'Hello world 2026', x: 20, y: 45 }] });
  assert.deepEqual((await ocr(utf8(png.toString('base64')))).text, ['Hello world 2026']);
});

test('bytes that are not an image fail that request with INVALID_ARGUMENT naming the decode step', async () => {
  await assert.rejects(ocr(utf8('certainly not a PNG')), (e: unknown) =>
    e instanceof InferenceError && e.code === 'INVALID_ARGUMENT' && /ensemble 'ocr' step 1 \(ocr_decode\): image: not a decodable PNG or JPEG/.test(e.message));
  assert.equal(server.isModelReady('ocr'), true);
  assert.equal(server.modelMetadata('ocr').platform, 'ensemble');
});

test('over HTTP, as the README shows: JSON with the PNG as base64 text, and raw bytes in binary', async () => {
  const http = await HttpFrontend.listen(server, { port: 0, host: '127.0.0.1' });
  try {
    const png = await renderText({ width: 520, height: 110, lines: [{ text: 'Hello from Open-AutoGLM', x: 20, y: 45 }, { text: 'p99 latency 42 ms', x: 20, y: 90 }] });
    const body = JSON.stringify({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: [png.toString('base64')] }] });
    const res = await fetch(`http://127.0.0.1:${http.port}/v2/models/ocr/infer`, { method: 'POST', body });
    assert.equal(res.status, 200);
    const json = (await res.json()) as { outputs: { name: string; shape: number[]; data: unknown[] }[] };
    assert.deepEqual(json.outputs.find((o) => o.name === 'text')?.data, ['Hello from Open-AutoGLM', 'p99 latency 42 ms']);
    assert.deepEqual(json.outputs.find((o) => o.name === 'boxes')?.shape, [2, 4]);
    // The same PNG as raw bytes with the binary tensor extension (a BYTES element: 4-byte length, then the bytes).
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: png.length + 4 } }] }));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(png.length);
    const binary = await fetch(`http://127.0.0.1:${http.port}/v2/models/ocr/infer`, {
      method: 'POST',
      headers: { 'Inference-Header-Content-Length': String(header.length), 'Content-Type': 'application/octet-stream' },
      body: Buffer.concat([header, len, png]),
    });
    assert.equal(binary.status, 200);
    const bj = (await binary.json()) as { outputs: { name: string; data: unknown[] }[] };
    assert.deepEqual(bj.outputs.find((o) => o.name === 'text')?.data, ['Hello from Open-AutoGLM', 'p99 latency 42 ms']);
    const bad = await fetch(`http://127.0.0.1:${http.port}/v2/models/ocr/infer`, { method: 'POST', body: JSON.stringify({ inputs: [{ name: 'image', datatype: 'BYTES', shape: [1], data: ['bm90IGFuIGltYWdl'] }] }) });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /step 1 \(ocr_decode\)/);
  } finally {
    await http.close();
  }
});
