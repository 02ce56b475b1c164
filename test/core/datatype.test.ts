import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DATATYPES, dataTypeInfo, fromConfigName, fromOnnxElemType, fromOrtType, allocate } from '../../src/core/index.js';

test('every datatype maps to and from its config, ONNX and ORT names', () => {
  assert.equal(DATATYPES.length, 13);
  for (const dt of DATATYPES) {
    const info = dataTypeInfo(dt);
    assert.equal(fromConfigName(info.configName), dt);
    assert.equal(fromOnnxElemType(info.onnxElemType), dt);
    assert.equal(fromOrtType(info.ortType), dt);
    if (dt === 'BYTES') continue;
    const a = allocate(dt, 3);
    assert.equal(a.length, 3);
    assert.equal(a.BYTES_PER_ELEMENT, info.byteSize);
  }
  assert.equal(fromConfigName('TYPE_STRING'), 'BYTES');
  assert.equal(fromConfigName('TYPE_NOPE'), undefined);
});
