/**
 * The load generator against servers of known behaviour: the floor server in serialized mode (one request at a
 * time, fixed service time, so capacity is known), and a misbehaving server (errors, dropped connections, wrong
 * answers). Short windows; no assertion depends on this machine's speed beyond generous factors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFloorServer, defaultFloorModel } from '../../bench/baselines/floor-server.js';
import { parseBenchArgs } from '../../src/bench/options.js';
import { runBench } from '../../src/bench/run-bench.js';
import { formatTable, formatCsv } from '../../src/bench/format-table.js';

const quick = ['-p', '300', '--warmup', '100', '-r', '3'];

test('closed loop against a server of known service time: throughput capped, Little\'s law holds, table rows', async (t) => {
  const serviceMs = 5;
  const server = await startFloorServer({ serviceTimeMs: serviceMs });
  t.after(() => server.close());
  const report = await runBench(parseBenchArgs(['-m', 'floor', '-u', server.url, '--concurrency-range', '1:4:x4', ...quick]));
  assert.deepEqual(report.steps.map((s) => s.level), [1, 4]);
  const capacity = 1000 / serviceMs;
  for (const s of report.steps) {
    assert.equal(s.errorCount, 0, JSON.stringify(s.errors));
    assert.ok(s.ok > 20, `too few requests: ${s.ok}`);
    assert.ok(s.throughput <= capacity * 1.05, `throughput ${s.throughput} above capacity ${capacity}`);
    // setTimeout never fires early by more than its 1 ms granularity: no request can beat the service time.
    assert.ok(s.latency.minUs >= (serviceMs - 1) * 1000, `min ${s.latency.minUs} µs`);
    // Little's law for a closed loop: requests in flight = throughput × mean latency (the client's own turnaround
    // between a response and the next send is the only gap, hence the lower bound).
    const inFlight = s.throughput * (s.latency.meanUs / 1e6);
    assert.ok(inFlight > 0.8 * s.level && inFlight <= 1.05 * s.level, `level ${s.level}: X·R = ${inFlight}`);
    assert.ok(s.latency.p50Us <= s.latency.p90Us && s.latency.p90Us <= s.latency.p95Us && s.latency.p95Us <= s.latency.p99Us);
    assert.ok(s.answersChecked > 0);
  }
  // Four requests share one server: each waits for the others, so latency grows about 4× (at least 2.5×).
  assert.ok(report.steps[1].latency.p50Us > 2.5 * report.steps[0].latency.p50Us);
  const okTotal = report.steps.reduce((n, s) => n + s.ok, 0);
  assert.ok(okTotal <= server.served(), `client counted ${okTotal} answers, server sent ${server.served()}`);

  const table = formatTable(report).split('\n');
  assert.match(table[0], /^concurrency +req\/s +p50 ms +p90 ms +p95 ms +p99 ms +mean ms +requests +errors +stable$/);
  assert.equal(table.length, 4);
  const row = table[2].trim().split(/ {2,}/);
  assert.equal(row[0], '1');
  assert.equal(row[1], report.steps[0].throughput.toFixed(1));
  assert.equal(row[2], (report.steps[0].latency.p50Us / 1000).toFixed(2));
  assert.equal(row[7], String(report.steps[0].ok));
  const csv = formatCsv(report).trim().split('\n');
  assert.equal(csv.length, 3);
  assert.equal(csv[1].split(',')[5], String(report.steps[0].latency.p90Us));
});

test('open loop: latency blows up (and keeps rising) when the offered rate exceeds capacity', async (t) => {
  const serviceMs = 4; // capacity 250 requests/s
  const server = await startFloorServer({ serviceTimeMs: serviceMs });
  t.after(() => server.close());
  const open = await runBench(parseBenchArgs(['-m', 'floor', '-u', server.url, '--request-rate-range', '100:500:400', ...quick]));
  const [under, over] = open.steps;
  assert.equal(under.level, 100);
  assert.equal(over.level, 500);
  assert.equal(under.errorCount + over.errorCount, 0);
  // Under capacity the open loop gets what it offers; over it, the server's capacity.
  assert.ok(under.throughput > 70 && under.throughput < 130, `under: ${under.throughput} req/s`);
  assert.ok(over.throughput <= 1000 / serviceMs * 1.05, `over: ${over.throughput} req/s`);
  // Measured from intended send times, the queue shows: the median is many service times, not one.
  assert.ok(over.latency.p50Us > 10 * under.latency.p50Us, `p50 under ${under.latency.p50Us} µs, over ${over.latency.p50Us} µs`);
  // Not a flat line: each window's mean latency is above the previous one (the backlog grows all the time).
  const w = over.windowMeanLatenciesUs;
  assert.equal(w.length, 3);
  assert.ok(w[0] < w[1] && w[1] < w[2], `window means ${w.join(', ')}`);
  assert.equal(over.stable, false);

  // The same server in closed loop at concurrency 1 hides that queue: its p99 stays near the service time.
  const closed = await runBench(parseBenchArgs(['-m', 'floor', '-u', server.url, '--concurrency-range', '1', ...quick]));
  assert.ok(closed.steps[0].latency.p99Us * 5 < over.latency.p50Us);
});

test('errors are counted by kind: HTTP status, dropped connections, wrong answers', async (t) => {
  const model = defaultFloorModel(1);
  let k = 0;
  const server = createServer((req, res) => {
    if (req.method === 'GET') {
      const body = req.url?.endsWith('/config') ? JSON.stringify({ max_batch_size: 8 })
        : JSON.stringify({ name: 'floor', versions: ['1'], platform: 'x', inputs: model.inputs, outputs: model.outputs });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(body);
      return;
    }
    req.resume();
    req.on('end', () => {
      k++;
      if (k % 5 === 0) return void res.writeHead(503, { 'Content-Type': 'application/json' }).end('{"error":"busy"}');
      if (k % 7 === 0) return void req.socket.destroy();
      // A different number every time: sampled answers cannot match their input set's first answer.
      const data = Buffer.alloc(4);
      data.writeFloatLE(k);
      const header = Buffer.from(JSON.stringify({ outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 1], parameters: { binary_data_size: 4 } }] }));
      res.writeHead(200, { 'Inference-Header-Content-Length': header.length }).end(Buffer.concat([header, data]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => { server.closeAllConnections(); server.close(); });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const report = await runBench(parseBenchArgs(['-m', 'floor', '-u', url, '--concurrency-range', '2', '-p', '300', '--warmup', '50', '-r', '1']));
  const s = report.steps[0];
  assert.ok((s.errors.http_503 ?? 0) > 0, JSON.stringify(s.errors));
  const network = Object.entries(s.errors).filter(([kind]) => kind.startsWith('network_')).reduce((n, [, v]) => n + v, 0);
  assert.ok(network > 0, JSON.stringify(s.errors));
  assert.ok((s.errors.wrong_answer ?? 0) > 0, JSON.stringify(s.errors));
  assert.equal(s.errorCount, Object.values(s.errors).reduce((a, b) => a + b, 0));
  // About one request in five is refused: the 503 share of all requests lands near 20 %.
  const share = s.errors.http_503 / (s.ok + s.errorCount);
  assert.ok(share > 0.1 && share < 0.3, `503 share ${share}`);
  assert.match(formatTable(report), /http_503: \d+/);
});

test('the first request refused: the run stops with the server\'s message', async (t) => {
  const server = await startFloorServer({});
  t.after(() => server.close());
  await assert.rejects(
    runBench(parseBenchArgs(['-m', 'nope', '-u', server.url])),
    (err: Error & { code?: string }) => err.code === 'NOT_FOUND' && /model 'nope' not found/.test(err.message),
  );
});
