import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoopDelay } from '../../src/frontends/loop-delay.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const block = (ms: number) => { const t = performance.now(); while (performance.now() - t < ms) { /* busy */ } };

test('LoopDelay: 0 before its first window, then about how long callbacks blocked the loop over the last one', async () => {
  const d = new LoopDelay();
  try {
    assert.equal(d.us, 0, 'no complete window yet');
    await sleep(1100);
    const idle = d.us;
    // The next window: the loop is blocked for 40 ms every 100 ms.
    for (let i = 0; i < 11; i++) {
      block(40);
      await sleep(60);
    }
    assert.ok(d.us >= 20_000 && d.us < 200_000 && d.us > idle, `blocked 40 ms at a time: ${d.us} µs (idle: ${idle} µs)`);
  } finally {
    d.stop();
  }
});
