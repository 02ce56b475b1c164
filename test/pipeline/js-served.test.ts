/** JS models served by the real server: batched by its scheduler like ONNX models, each request getting its rows. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceServer } from '../../src/server/inference-server.js';
import { InferenceError } from '../../src/core/index.js';
import { fromUtf8, tmpRepo, utf8 } from './helpers.js';

const repo = tmpRepo('autoglm-js-served-');
let server: InferenceServer;

before(async () => {
  mkdirSync(join(repo, 'upper', '1'), { recursive: true });
  writeFileSync(join(repo, 'upper', 'config.pbtxt'), `name: "upper"
backend: "js"
max_batch_size: 8
input [ { name: "s" data_type: TYPE_STRING dims: [ 1 ] }, { name: "n" data_type: TYPE_INT64 dims: [ 2 ] } ]
output [ { name: "u" data_type: TYPE_STRING dims: [ 1 ] }, { name: "n2" data_type: TYPE_INT64 dims: [ 2 ] }, { name: "rows" data_type: TYPE_INT32 dims: [ 1 ] } ]
dynamic_batching { max_queue_delay_microseconds: 20000 }`);
  // The model is written against whole batches: it reports the batch size it saw in every row. A CommonJS model.js
  // (no package.json says "type": "module" here).
  writeFileSync(join(repo, 'upper', '1', 'model.js'), `
module.exports = {
  async execute(inputs) {
    const s = inputs.find((t) => t.name === 's');
    const n = inputs.find((t) => t.name === 'n');
    const rows = s.shape[0];
    if (s.data.some((b) => new TextDecoder().decode(b) === 'boom')) throw new Error('boom in this batch');
    await new Promise((r) => setTimeout(r, 20));
    return [
      { name: 'u', datatype: 'BYTES', shape: [rows, 1], data: s.data.map((b) => new TextDecoder().decode(b).toUpperCase()) },
      { name: 'n2', datatype: 'INT64', shape: n.shape, data: n.data.map((v) => v * 2n) },
      { name: 'rows', datatype: 'INT32', shape: [rows, 1], data: new Int32Array(rows).fill(rows) },
    ];
  },
};`);
  server = await InferenceServer.create({ modelRepositories: [repo] });
});

after(async () => {
  await server?.close();
  rmSync(repo, { recursive: true, force: true });
});

test('concurrent requests to a batching JS model each get their own rows back', async () => {
  assert.equal(server.isModelReady('upper'), true);
  assert.equal(server.modelConfig('upper').default_model_filename, 'model.js');
  const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => server.infer({
    model: 'upper',
    inputs: [
      { name: 's', datatype: 'BYTES', shape: [1, 1], data: [utf8(`req ${i}`)] },
      { name: 'n', datatype: 'INT64', shape: [1, 2], data: BigInt64Array.from([BigInt(i), -7n]) },
    ],
  })));
  rs.forEach((r, i) => {
    const u = r.outputs.find((t) => t.name === 'u')!;
    assert.deepEqual((u.data as Uint8Array[]).map(fromUtf8), [`REQ ${i}`]);
    assert.deepEqual(Array.from(r.outputs.find((t) => t.name === 'n2')!.data as BigInt64Array), [BigInt(2 * i), -14n]);
  });
  const sizes = rs.map((r) => (r.outputs.find((t) => t.name === 'rows')!.data as Int32Array)[0]);
  assert.ok(sizes.every((b) => b >= 1 && b <= 8), `batch sizes ${sizes}`);
});

test('a request missing an input is refused before it reaches the model', async () => {
  await assert.rejects(server.infer({ model: 'upper', inputs: [{ name: 's', datatype: 'BYTES', shape: [1, 1], data: [utf8('x')] }] }),
    (e: unknown) => e instanceof InferenceError && e.code === 'INVALID_ARGUMENT' && /'n'/.test(e.message));
});

test('a model error fails the requests of its batch, and only those', async () => {
  const send = (text: string) => server.infer({
    model: 'upper',
    inputs: [
      { name: 's', datatype: 'BYTES', shape: [1, 1], data: [utf8(text)] },
      { name: 'n', datatype: 'INT64', shape: [1, 2], data: new BigInt64Array(2) },
    ],
  });
  const [boom, ...others] = await Promise.allSettled([send('boom'), send('a'), send('b')]);
  assert.equal(boom.status, 'rejected');
  const err = (boom as PromiseRejectedResult).reason;
  assert.ok(err instanceof InferenceError && err.code === 'INTERNAL' && /upper.*boom in this batch/.test(err.message), String(err));
  for (const o of others) {
    // Batched with 'boom': the same error; in a batch of its own: its answer.
    if (o.status === 'rejected') assert.match(String(o.reason.message), /boom in this batch/);
    else assert.equal(fromUtf8((o.value.outputs.find((t) => t.name === 'u')!.data as Uint8Array[])[0]).length, 1);
  }
  // The instance still serves.
  assert.equal(fromUtf8(((await send('ok')).outputs.find((t) => t.name === 'u')!.data as Uint8Array[])[0]), 'OK');
});
