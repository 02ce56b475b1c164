import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { LogSink, sharedDropCounter } from '../../src/core/log-sink.js';

const errno = (code: string) => Object.assign(new Error(code), { code });

/** A destination whose behaviour the test scripts: each call takes the next step (bytes to accept, or an error code). */
function scripted(steps: Array<number | string>) {
  const written: string[] = [];
  let calls = 0;
  const write = (_fd: number, data: Uint8Array): number => {
    calls++;
    const step = steps.length > 0 ? steps.shift()! : Infinity;
    if (typeof step === 'string') throw errno(step);
    const n = Math.min(step, data.length);
    written.push(Buffer.from(data.subarray(0, n)).toString());
    return n;
  };
  return { write, written, calls: () => calls };
}

test('EAGAIN: lines wait in the bounded backlog and go out, whole and in order, once the destination takes them', () => {
  const d = scripted(['EAGAIN', 'EAGAIN', 5]);
  const sink = new LogSink({ fd: 99, write: d.write });
  sink.write('one\n');
  sink.write('two\n');
  sink.write('three\n');
  // 'one' waits (EAGAIN), 'two' tries the backlog first (EAGAIN) and queues, 'three': 5 bytes of 'one\n' + ... then all.
  sink.flush();
  assert.equal(d.written.join(''), 'one\ntwo\nthree\n');
  assert.equal(sink.dropped, 0);
});

test('a partial write keeps the rest of its line first in line', () => {
  const d = scripted([2, 'EAGAIN']);
  const sink = new LogSink({ fd: 99, write: d.write });
  sink.write('abcdef\n');
  sink.write('next\n');
  sink.flush();
  assert.equal(d.written.join(''), 'abcdef\nnext\n');
});

test('past the backlog bound new lines are dropped and counted', () => {
  const d = scripted(new Array(100).fill('EAGAIN'));
  const sink = new LogSink({ fd: 99, write: d.write, maxPendingBytes: 20 });
  for (let i = 0; i < 10; i++) sink.write('0123456789\n'); // 11 bytes each: one fits
  assert.equal(sink.dropped, 9);
});

test('EPIPE: the reader is gone for good: what waits and every later line is dropped without another write', () => {
  const d = scripted(['EAGAIN', 'EPIPE']);
  const counter = sharedDropCounter();
  const sink = new LogSink({ fd: 99, write: d.write, dropped: counter });
  sink.write('a\n'); // waits
  sink.write('b\n'); // flush hits EPIPE: 'a' dropped; 'b' never written
  assert.ok(sink.broken);
  const calls = d.calls();
  for (let i = 0; i < 1000; i++) sink.write('more\n');
  assert.equal(d.calls(), calls, 'no more write calls');
  assert.equal(sink.dropped, 1002);
  assert.equal(Atomics.load(counter, 0), 1002, 'counted in the shared counter');
});

test('ENOSPC (a full disk): the line is dropped, the next one tries again', () => {
  const d = scripted(['ENOSPC', 100]);
  const sink = new LogSink({ fd: 99, write: d.write });
  sink.write('lost\n');
  sink.write('kept\n');
  assert.equal(sink.dropped, 1);
  assert.equal(d.written.join(''), 'kept\n');
  assert.ok(!sink.broken);
});

test('a real socket nobody reads, then closed: writes never block, lines are dropped and counted', async () => {
  // `sleep` never reads its stdin: node's 'pipe' is a non-blocking socket whose buffer fills (EAGAIN), then the
  // peer goes away (EPIPE).
  const child = spawn('sleep', ['30'], { stdio: ['pipe', 'ignore', 'ignore'] });
  const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
  const sink = new LogSink({ fd, maxPendingBytes: 64 * 1024 });
  const line = `${'x'.repeat(199)}\n`;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 20_000; i++) sink.write(line); // 4 MB: far more than the socket and the backlog hold
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(sink.dropped > 0, 'the full socket made it drop');
  assert.equal(sink.lastError, 'EAGAIN');
  assert.ok(ms < 2000, `20k writes took ${ms} ms`);
  const before = sink.dropped;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  for (let i = 0; i < 3; i++) {
    sink.write(line);
    await new Promise((r) => setTimeout(r, 60));
  }
  assert.ok(sink.broken, `EPIPE seen (last error ${sink.lastError})`);
  assert.ok(sink.dropped >= before + 3 + 1, 'the backlog and the later lines are counted');
  child.stdin!.destroy();
});
