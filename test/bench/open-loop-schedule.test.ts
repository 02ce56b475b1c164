/**
 * The open loop's schedule: requests start at the offered rate whatever the timers do (overdue ones are sent at
 * once, timed from their intended start), with constant or Poisson gaps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFloorServer } from '../../bench/baselines/floor-server.js';
import { OpenLoopDriver } from '../../src/bench/load-driver.js';
import { encodeRequest } from '../../src/bench/http1-connection.js';
import { targetOf } from '../../src/bench/run-bench.js';
import { MeasurementWindow } from '../../src/bench/measurement-window.js';

/** mulberry32, so the Poisson draw is the same every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

for (const distribution of ['constant', 'poisson'] as const) {
  test(`${distribution} arrivals start rate × time requests`, async (t) => {
    const server = await startFloorServer({});
    t.after(() => server.close());
    const request = encodeRequest('POST', 'x', '/v2/models/floor/infer', {}, Buffer.from('{}'));
    const rate = 400;
    const t0 = performance.now();
    const driver = new OpenLoopDriver(targetOf(server.url), [request], rate, distribution, 64, seeded(42));
    const window = new MeasurementWindow(undefined);
    driver.sink = window;
    await sleep(1000);
    const elapsed = (performance.now() - t0) / 1000;
    const started = driver.started;
    await driver.stop(2000);
    window.close();
    const expected = rate * elapsed;
    // Constant gaps: one request per 1/rate, short only by what a late timer tick has not sent yet (10 % leaves a
    // busy machine 100 ms). Poisson: within 4 standard deviations (√(rate·T)) of the mean, plus the same lateness.
    const late = 0.1 * expected;
    const slack = distribution === 'constant' ? late + 2 : 4 * Math.sqrt(expected) + late;
    assert.ok(Math.abs(started - expected) <= slack, `started ${started}, expected ${expected.toFixed(0)} ± ${slack.toFixed(0)}`);
    assert.equal(window.errorCount, 0);
    assert.equal(driver.inFlight, 0, 'stop waited for every request in flight');
  });
}
