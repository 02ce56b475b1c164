import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { JsBackend } from '../../src/backends/js/js-backend.js';
import { InstanceDiedError, type ModelInstance } from '../../src/backends/backend.js';
import { DATATYPES, InferenceError, allocate, dataTypeInfo, type Tensor } from '../../src/core/index.js';
import { fromUtf8, modelConfig, tensorConfig, tmpRepo, utf8, writeJsModel } from '../pipeline/helpers.js';

const repo = tmpRepo('autoglm-js-');
const backend = new JsBackend();
const instances: ModelInstance[] = [];
after(async () => {
  await Promise.all(instances.map((i) => i.unload()));
  rmSync(repo, { recursive: true, force: true });
});

async function load(name: string, source: string, p: Partial<Parameters<typeof modelConfig>[0]> = {}, index = 0) {
  const config = modelConfig({
    name,
    max_batch_size: 8,
    input: [tensorConfig('x', 'TYPE_FP32', [2]), tensorConfig('s', 'TYPE_STRING', [1])],
    output: [tensorConfig('y', 'TYPE_FP32', [2]), tensorConfig('u', 'TYPE_STRING', [1])],
    ...p,
  });
  const inst = await backend.createInstance(writeJsModel(repo, config, source, index));
  instances.push(inst);
  return inst;
}

const DOUBLER = `
let calls = 0;
export function initialize(ctx) { globalThis.ctx = ctx; }
export function execute(inputs, outputNames) {
  calls++;
  const x = inputs.find((t) => t.name === 'x');
  const s = inputs.find((t) => t.name === 's');
  const out = [];
  if (outputNames.includes('y')) out.push({ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data.map((v) => v * 2) });
  if (outputNames.includes('u')) out.push({ name: 'u', datatype: 'BYTES', shape: s.shape,
    data: s.data.map((b) => new TextDecoder().decode(b).toUpperCase() + ':' + globalThis.ctx.instanceName + ':' + calls) });
  return out;
}`;

function batch(n: number): Tensor[] {
  const x = new Float32Array(n * 2).map((_, i) => i + 0.5);
  const s = Array.from({ length: n }, (_, i) => utf8(i === 1 ? '' : `héllo ${i}`));
  return [
    { name: 'x', datatype: 'FP32', shape: [n, 2], data: x },
    { name: 's', datatype: 'BYTES', shape: [n, 1], data: s },
  ];
}

test('executes a batch: numeric and BYTES outputs, in the order asked, with the context passed to initialize', async () => {
  const inst = await load('doubler', DOUBLER);
  const inputs = batch(3);
  const r = await inst.execute(inputs, ['u', 'y']);
  assert.deepEqual(r.outputs.map((t) => t.name), ['u', 'y']);
  assert.deepEqual(r.outputs[1].shape, [3, 2]);
  assert.deepEqual(Array.from(r.outputs[1].data as Float32Array), [1, 3, 5, 7, 9, 11]);
  assert.deepEqual((r.outputs[0].data as Uint8Array[]).map(fromUtf8), ['HÉLLO 0:doubler_0_0:1', ':doubler_0_0:1', 'HÉLLO 2:doubler_0_0:1']);
  // The caller's buffers are neither detached nor changed.
  assert.equal((inputs[0].data as Float32Array).length, 6);
  assert.equal((inputs[0].data as Float32Array)[0], 0.5);
  assert.ok(r.timing.inferUs >= 0);
  // State persists between calls in one instance.
  const r2 = await inst.execute(batch(1), ['u']);
  assert.equal(fromUtf8((r2.outputs[0].data as Uint8Array[])[0]), 'HÉLLO 0:doubler_0_0:2');
});

test('BYTES round-trip keeps arbitrary bytes and views into a shared body', async () => {
  const inst = await load('echo', `export default { execute: (inputs) => inputs.map((t) => ({ ...t, name: t.name === 'x' ? 'y' : 'u' })) };`);
  const body = new Uint8Array([0, 255, 1, 2, 3, 0xc3, 0x28, 9]);
  const s = [body.subarray(0, 3), body.subarray(3, 3), body.subarray(3, 8)];
  const r = await inst.execute([{ name: 'x', datatype: 'FP32', shape: [3, 2], data: new Float32Array(6) }, { name: 's', datatype: 'BYTES', shape: [3, 1], data: s }], ['u']);
  assert.deepEqual((r.outputs[0].data as Uint8Array[]).map((b) => Array.from(b)), [[0, 255, 1], [], [2, 3, 0xc3, 0x28, 9]]);
  assert.equal(body.byteLength, 8, 'the request body is not detached');
});

test('numeric inputs that are views into a larger buffer (a Node Buffer from a request body) stay intact', async () => {
  const inst = await load('view', `export function execute(inputs) {
  const x = inputs.find((t) => t.name === 'x');
  x.data.fill(-1); // model code scribbling on its inputs must not reach the caller
  return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: new Float32Array(x.data.length).fill(x.data.length) }];
}`);
  const body = Buffer.alloc(64, 0);
  const x = new Float32Array(body.buffer, body.byteOffset + 16, 4).fill(3);
  const r = await inst.execute([{ name: 'x', datatype: 'FP32', shape: [2, 2], data: x }], ['y']);
  assert.deepEqual(Array.from(r.outputs[0].data as Float32Array), [4, 4, 4, 4]);
  assert.equal(body.buffer.byteLength > 0, true, 'not detached');
  assert.deepEqual(Array.from(x), [3, 3, 3, 3], 'not changed');
  const whole = Buffer.alloc(4); // not from the pool: its own ArrayBuffer, which a careless transfer would detach
  whole.set([1, 2, 3, 4]);
  const u8 = await load('bytesview', `export function execute(inputs) { return [{ name: 'y', datatype: 'FP32', shape: [1, 2], data: Array.from(inputs[0].data.slice(0, 2)) }]; }`, {
    input: [tensorConfig('x', 'TYPE_UINT8', [4])],
  });
  const r2 = await u8.execute([{ name: 'x', datatype: 'UINT8', shape: [1, 4], data: whole }], ['y']);
  assert.deepEqual(Array.from(r2.outputs[0].data as Float32Array), [1, 2]);
  assert.deepEqual([...whole], [1, 2, 3, 4], 'a Buffer input is neither detached nor changed');
});

test('outputs that contradict the config fail the batch with INTERNAL naming the output', async () => {
  const inst = await load('liar', `
export function execute(inputs, names) {
  const mode = inputs.find((t) => t.name === 's').data[0][0];
  const n = inputs[0].shape[0];
  const y = { name: 'y', datatype: 'FP32', shape: [n, 2], data: new Float32Array(n * 2) };
  if (mode === 1) return [{ ...y, datatype: 'FP64', data: new Float64Array(n * 2) }];
  if (mode === 2) return [{ ...y, shape: [n + 1, 2], data: new Float32Array((n + 1) * 2) }];
  if (mode === 3) return [{ ...y, data: new Float32Array(1) }];
  if (mode === 4) return [];
  if (mode === 5) return 'nope';
  return [y];
}`);
  const run = (mode: number) => inst.execute([{ name: 'x', datatype: 'FP32', shape: [2, 2], data: new Float32Array(4) }, { name: 's', datatype: 'BYTES', shape: [2, 1], data: [new Uint8Array([mode]), new Uint8Array([mode])] }], ['y']);
  const cases: [number, RegExp][] = [
    [1, /output 'y' is FP64, config says FP32/],
    [2, /output 'y' has shape \[3,2\], config says \[2,2\]/],
    [3, /output 'y' has 1 elements for shape \[2,2\]/],
    [4, /returned no output 'y'/],
    [5, /returned string, expected an array/],
  ];
  for (const [mode, re] of cases) {
    await assert.rejects(run(mode), (e: unknown) => e instanceof InferenceError && e.code === 'INTERNAL' && re.test(e.message) && e.message.includes("'liar'"));
  }
  assert.equal((await run(0)).outputs[0].shape[0], 2, 'the instance still works after failures');
});

test('errors thrown by model code: INTERNAL by default, their own catalog code when set', async () => {
  const inst = await load('thrower', `
export function execute(inputs) {
  const n = inputs[0].data[0];
  if (n === 1) throw new Error('tokenizer exploded');
  if (n === 2) throw Object.assign(new Error('image: not a PNG'), { code: 'INVALID_ARGUMENT' });
  if (n === 3) throw Object.assign(new Error('weird'), { code: 'NOT_A_CODE' });
  return [{ name: 'y', datatype: 'FP32', shape: [1, 2], data: [7, 8] }];
}`);
  const run = (n: number) => inst.execute([{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([n, 0]) }, { name: 's', datatype: 'BYTES', shape: [1, 1], data: [utf8('a')] }], ['y']);
  await assert.rejects(run(1), (e: unknown) => e instanceof InferenceError && e.code === 'INTERNAL' && /thrower.*tokenizer exploded/.test(e.message));
  await assert.rejects(run(2), (e: unknown) => e instanceof InferenceError && e.code === 'INVALID_ARGUMENT' && e.message === 'image: not a PNG');
  await assert.rejects(run(3), (e: unknown) => e instanceof InferenceError && e.code === 'INTERNAL' && /weird/.test(e.message));
  // Plain arrays are accepted and converted to the declared type.
  const ok = await run(0);
  assert.ok(ok.outputs[0].data instanceof Float32Array);
  assert.deepEqual(Array.from(ok.outputs[0].data as Float32Array), [7, 8]);
});

test('load failures say why: initialize throws, no execute export, missing file', async () => {
  await assert.rejects(load('badinit', `export function initialize() { throw new Error('vocab.txt missing'); } export function execute() { return []; }`), /badinit.*vocab\.txt missing/);
  await assert.rejects(load('noexec', `export const x = 1;`), /exports no execute\(\)/);
  await assert.rejects(load('broken', `export function execute( {`), /broken.*(Unexpected|SyntaxError)/);
});

test('a model that blocks its thread does not block the server thread', async () => {
  const inst = await load('busy', `
export function execute(inputs) {
  const end = Date.now() + 400;
  while (Date.now() < end) {}
  return [{ name: 'y', datatype: 'FP32', shape: inputs[0].shape, data: new Float32Array(inputs[0].data.length) }];
}`);
  const order: string[] = [];
  const run = inst.execute(batch(1), ['y']).then(() => order.push('execute'));
  // 20 timer ticks of 5 ms each complete while the model spins for 400 ms in its worker.
  let ticks = 0;
  await new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (++ticks === 20) {
        clearInterval(t);
        order.push('timers');
        resolve();
      }
    }, 5);
  });
  await run;
  assert.deepEqual(order, ['timers', 'execute']);
});

test('a worker that dies takes only its batch (InstanceDiedError); the replacement starts with fresh module state', async () => {
  // The contract's death cases run for every instance kind in instance-conformance.test.ts; this is what JS adds:
  // deaths from model code (process.exit, an uncaught error after answering) and initialize running again.
  const inst = await load('crasher', `
let calls = 0;
export function execute(inputs) {
  calls++;
  if (inputs[0].data[0] === 1) process.exit(3);
  if (inputs[0].data[0] === 2) setTimeout(() => { throw new Error('late bug'); }, 0);
  return [{ name: 'y', datatype: 'FP32', shape: [1, 2], data: [calls, 0] }];
}`);
  const run = (n: number) => inst.execute([{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([n, 0]) }], ['y']);
  const restarted = () => new Promise<void>((resolve) => {
    const stop = inst.onHealthChange!((h) => { if (h === 'READY') { stop(); resolve(); } });
  });
  assert.equal((await run(0)).outputs[0].data[0], 1);
  assert.equal((await run(0)).outputs[0].data[0], 2);
  await assert.rejects(run(1), (e: unknown) => e instanceof InstanceDiedError && /'crasher_0_0': its worker exited with code 3; a new worker is starting/.test(e.message));
  assert.equal((await run(0)).outputs[0].data[0], 1, 'a fresh module state after the restart');
  // An uncaught error after the answer: the answer stands, the worker is replaced before the next call.
  const back = restarted();
  assert.equal((await run(2)).outputs[0].data[0], 2);
  await back;
  assert.equal(inst.health, 'READY');
  assert.equal((await run(0)).outputs[0].data[0], 1);
});

test('instances are isolated and finalize runs at unload', async () => {
  const src = `
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
let ctx;
export function initialize(c) { ctx = c; globalThis.count = 0; }
export function execute(inputs) { globalThis.count++; return [{ name: 'y', datatype: 'FP32', shape: [1, 2], data: [globalThis.count, 0] }]; }
export function finalize() { writeFileSync(join(ctx.versionDir, ctx.instanceName + '.done'), 'bye'); }`;
  const a = await load('pair', src, {}, 0);
  const b = await load('pair', src, {}, 1);
  const x: Tensor[] = [{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array(2) }];
  await a.execute(x, ['y']);
  await a.execute(x, ['y']);
  assert.equal((await b.execute(x, ['y'])).outputs[0].data[0], 1, 'b has its own globals');
  await a.unload();
  assert.equal(readFileSync(join(repo, 'pair', '1', 'pair_0_0.done'), 'utf8'), 'bye');
  assert.equal(existsSync(join(repo, 'pair', '1', 'pair_0_1.done')), false);
  await assert.rejects(a.execute(x, ['y']), (e: unknown) => e instanceof InferenceError && e.code === 'UNAVAILABLE');
});

test('finds model.js when the config names model.mjs and the other way round', async () => {
  const config = modelConfig({ name: 'plainjs', default_model_filename: 'model.js', input: [tensorConfig('x', 'TYPE_FP32', [1])], output: [tensorConfig('y', 'TYPE_FP32', [1])] });
  const spec = writeJsModel(repo, config, `export function execute(i) { return [{ name: 'y', datatype: 'FP32', shape: [1], data: [42] }]; }`);
  // writeJsModel wrote model.mjs; the spec asks for model.js.
  assert.match(spec.modelPath, /model\.js$/);
  const inst = await backend.createInstance(spec);
  instances.push(inst);
  assert.equal((await inst.execute([{ name: 'x', datatype: 'FP32', shape: [1], data: new Float32Array(1) }], ['y'])).outputs[0].data[0], 42);
});

test('every v2 datatype crosses to the model and back unchanged (identity per datatype)', async () => {
  const config = modelConfig({
    name: 'identity_all',
    max_batch_size: 4,
    input: DATATYPES.map((dt) => tensorConfig(`in_${dt}`, dataTypeInfo(dt).configName, [3])),
    output: DATATYPES.map((dt) => tensorConfig(`out_${dt}`, dataTypeInfo(dt).configName, [3])),
  });
  const inst = await backend.createInstance(writeJsModel(repo, config, `
export function execute(inputs) {
  // Checks what the model sees: typed arrays of the right kind, Uint8Array elements for BYTES.
  for (const t of inputs) {
    const ok = t.datatype === 'BYTES' ? t.data.every((e) => e instanceof Uint8Array) : ArrayBuffer.isView(t.data);
    if (!ok) throw new Error(t.name + ' arrived as ' + Object.prototype.toString.call(t.data));
  }
  return inputs.map((t) => ({ ...t, name: t.name.replace('in_', 'out_') }));
}`));
  instances.push(inst);
  const inputs: Tensor[] = DATATYPES.map((dt, k) => {
    const n = 6; // batch 2 × 3
    if (dt === 'BYTES') return { name: `in_${dt}`, datatype: dt, shape: [2, 3], data: Array.from({ length: n }, (_, i) => utf8(`é${i}`.repeat(i))) };
    const data = allocate(dt, n);
    for (let i = 0; i < n; i++) {
      const v = dt === 'BOOL' ? i % 2 : dt.startsWith('FP') && dt !== 'FP16' ? -(i + k) / 4 : i * 7 + k;
      (data as unknown as (number | bigint)[])[i] = dataTypeInfo(dt).json === 'bigint' ? BigInt(v) * (dt === 'INT64' ? -1n : 1n) : v;
    }
    return { name: `in_${dt}`, datatype: dt, shape: [2, 3], data };
  });
  const r = await inst.execute(inputs, DATATYPES.map((dt) => `out_${dt}`));
  DATATYPES.forEach((dt, i) => {
    const got = r.outputs[i];
    assert.equal(got.datatype, dt);
    assert.deepEqual(got.shape, [2, 3]);
    if (dt === 'BYTES') assert.deepEqual((got.data as Uint8Array[]).map(fromUtf8), (inputs[i].data as Uint8Array[]).map(fromUtf8));
    else {
      assert.equal(got.data.constructor, inputs[i].data.constructor, dt);
      assert.deepEqual(Array.from(got.data as ArrayLike<number>), Array.from(inputs[i].data as ArrayLike<number>), dt);
    }
  });
});

test('execute_timeout_ms ends a model stuck in a loop: that batch fails (INTERNAL, not retryable), the next gets a fresh worker', async () => {
  const inst = await load('looper', `
export function execute(inputs) {
  if (inputs[0].data[0] === 1) for (;;) {}
  return [{ name: 'y', datatype: 'FP32', shape: [1, 2], data: [5, 5] }];
}`, { parameters: { execute_timeout_ms: { string_value: '300' } } });
  const run = (n: number) => inst.execute([{ name: 'x', datatype: 'FP32', shape: [1, 2], data: new Float32Array([n, 0]) }], ['y']);
  await assert.rejects(run(1), (e: unknown) => e instanceof InferenceError && !(e instanceof InstanceDiedError) && e.code === 'INTERNAL' && /longer than 300 ms/.test(e.message));
  assert.equal(inst.health, 'RESTARTING', 'the ended worker is being replaced already');
  assert.deepEqual(Array.from((await run(0)).outputs[0].data as Float32Array), [5, 5]);
  await assert.rejects(load('badtimeout', 'export function execute() { return []; }', { parameters: { execute_timeout_ms: { string_value: 'soon' } } }), /execute_timeout_ms/);
});
