/**
 * The HTTP suites again, with the frontend on two worker threads (ThreadedHttpFrontend): every endpoint, datatype,
 * bad input and concurrency case must behave the same when requests cross to the main thread's models.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { postJson, startServer, tempRepo } from './helpers.js';

// Read by startServer when the suites' before() hooks run; the suites are imported after it is set.
process.env.AUTOGLM_TEST_HTTP_THREADS = '2';
await import('./endpoints.test.js');
await import('./datatypes.test.js');
await import('./bad-input.test.js');
await import('./concurrency.test.js');


test('requests arriving on different frontend threads share batches in the main thread', async () => {
  const repo = tempRepo();
  const mlp = mlpModel(16, 32, 4, 9);
  writeModel(repo.dir, 'mlp', mlp.bytes, { config: 'max_batch_size: 64\ninput [ { name: "input" data_type: TYPE_FP32 dims: [ 16 ] } ]\noutput [ { name: "output" data_type: TYPE_FP32 dims: [ 4 ] } ]' });
  const srv = await startServer({ modelRepositories: [repo.dir] }, 2);
  try {
    const n = 64;
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => {
      const x = seededFloats(16, 500 + i, 1);
      return postJson(srv.base, '/v2/models/mlp/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: [...x] }] })
        .then((r) => ({ r, x }));
    }));
    for (const { r, x } of replies) {
      assert.equal(r.status, 200);
      const want = mlp.reference(x, 1);
      (r.json.outputs[0].data as number[]).forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-4));
    }
    const execs = Number(/nv_inference_exec_count\{model="mlp",version="1"\} (\d+)/.exec(srv.server.metrics.render())![1]);
    assert.ok(execs < n, `${n} requests ran in ${execs} executions`);
  } finally {
    await srv.close();
    repo.remove();
  }
});
