/** Config → onnxruntime session options and execution providers (pure; no session is created here). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sessionPlanFor } from '../../src/backends/onnx/session-options.js';
import { tempModel } from './onnx-helpers.js';

const model = tempModel('opts', new Uint8Array(0));
model.remove(); // only its spec() is used: nothing here reads the file
const params = (kv: Record<string, string>) => ({ parameters: Object.fromEntries(Object.entries(kv).map(([k, v]) => [k, { string_value: v }])) });
const gpuAccel = (...names: string[]) => ({
  optimization: { execution_accelerators: { gpu_execution_accelerator: names.map((name) => ({ name, parameters: {} })), cpu_execution_accelerator: [] } },
});

test('defaults: CPU provider, intra-op threads = the instance share, nothing else forced', () => {
  const plan = sessionPlanFor(model.spec({ threads: 3 }));
  assert.deepEqual(plan.providers, ['cpu']);
  assert.equal(plan.options.intraOpNumThreads, 3);
  assert.deepEqual(plan.options.executionProviders, ['cpu']);
  for (const k of ['interOpNumThreads', 'executionMode', 'graphOptimizationLevel', 'enableMemPattern', 'enableCpuMemArena'] as const) {
    assert.equal(plan.options[k], undefined, k);
  }
});

test('parameters map to session options', () => {
  const { options } = sessionPlanFor(model.spec({ config: params({
    intra_op_thread_count: '4', inter_op_thread_count: '2', execution_mode: 'PARALLEL',
    graph_optimization_level: 'extended', enable_mem_pattern: 'false', enable_cpu_mem_arena: '0', some_other_key: 'x',
  }) }));
  assert.deepEqual(
    [options.intraOpNumThreads, options.interOpNumThreads, options.executionMode, options.graphOptimizationLevel, options.enableMemPattern, options.enableCpuMemArena],
    [4, 2, 'parallel', 'extended', false, false],
  );
  assert.equal(sessionPlanFor(model.spec({ config: params({ execution_mode: '0' }) })).options.executionMode, 'sequential');
  const pinned = sessionPlanFor(model.spec({ config: params({ intra_op_thread_count: '3', intra_op_thread_affinities: '1;2-3' }) }));
  assert.deepEqual(pinned.options.extra, { session: { intra_op_thread_affinities: '1;2-3' } });
});

test("optimization.graph.level follows Triton's numbers; the parameter wins over it", () => {
  const level = (n: number) => sessionPlanFor(model.spec({ config: { optimization: { graph: { level: n } } } })).options.graphOptimizationLevel;
  assert.deepEqual([level(-1), level(0), level(1), level(2)], ['basic', 'all', 'extended', 'disabled']);
  const both = sessionPlanFor(model.spec({ config: { optimization: { graph: { level: 1 } }, ...params({ graph_optimization_level: 'basic' }) } }));
  assert.equal(both.options.graphOptimizationLevel, 'basic');
});

test('bad values name the parameter', () => {
  for (const [k, v, re] of [
    ['intra_op_thread_count', '0', /intra_op_thread_count must be a positive integer, got '0'/],
    ['inter_op_thread_count', '1.5', /inter_op_thread_count must be a positive integer/],
    ['execution_mode', 'fast', /execution_mode must be sequential or parallel, got 'fast'/],
    ['graph_optimization_level', '99', /graph_optimization_level must be one of/],
    ['enable_mem_pattern', 'yes', /enable_mem_pattern must be true or false/],
    ['intra_op_thread_affinities', 'cores 1 and 2', /intra_op_thread_affinities must be ORT's 'cpus;cpus;…' list/],
  ] as const) {
    assert.throws(() => sessionPlanFor(model.spec({ config: params({ [k]: v }) })), re);
  }
});

test('KIND_GPU: CUDA on the instance device; TensorRT first with CUDA fallback when configured', () => {
  const cuda = sessionPlanFor(model.spec({ kind: 'KIND_GPU', gpu: 2 }));
  assert.deepEqual(cuda.providers, ['cuda']);
  assert.deepEqual(cuda.options.executionProviders, [{ name: 'cuda', deviceId: 2 }]);
  const trt = sessionPlanFor(model.spec({ kind: 'KIND_GPU', gpu: 1, config: gpuAccel('tensorrt') }));
  assert.deepEqual(trt.options.executionProviders, [{ name: 'tensorrt', deviceId: 1 }, { name: 'cuda', deviceId: 1 }]);
  // GPU accelerators do not apply to CPU instances (as in Triton).
  assert.deepEqual(sessionPlanFor(model.spec({ config: gpuAccel('tensorrt') })).providers, ['cpu']);
  assert.throws(() => sessionPlanFor(model.spec({ kind: 'KIND_GPU', gpu: 0, config: gpuAccel('openvino') })), /unsupported gpu_execution_accelerator 'openvino'/);
});
