// Preload for any Node process of a benchmark: appends its event loop's lateness (p50/p99/max over 2 s windows) to
// $LOOP_DELAY_LOG (default /tmp/loop-delay.log), one line per window, tagged with the pid and arguments.
//   NODE_OPTIONS="--import ./bench/baselines/loop-delay-log.mjs" node --import tsx bench/batching-priority.ts
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { appendFileSync } from 'node:fs';

const file = process.env.LOOP_DELAY_LOG ?? '/tmp/loop-delay.log';
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
const ms = (ns) => (ns / 1e6).toFixed(1);
setInterval(() => {
  appendFileSync(file, `${process.pid} ${process.argv.slice(2, 4).join(' ')} p50 ${ms(h.percentile(50))} p99 ${ms(h.percentile(99))} max ${ms(h.max)} ms\n`);
  h.reset();
}, 2000).unref();
