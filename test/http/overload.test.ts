/**
 * Admission before the expensive work, through the real HTTP frontend: refusals before the body is read and before
 * the tensors are decoded, the connection bound, and compute workers' lower priority. A JS model that holds its batch
 * until the test releases it keeps requests in progress or queued for exactly as long as a test needs.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type Running, call, postJson, startServer, tempRepo } from './helpers.js';
import { HttpFrontend } from '../../src/frontends/http/index.js';

const repo = tempRepo('autoglm-overload-');
const RELEASE = join(repo.dir, 'release');

/** y = x, once the file RELEASE exists. */
const HELD = `module.exports = {
  async execute(inputs) {
    const { existsSync } = require('node:fs');
    while (!existsSync(${JSON.stringify(RELEASE)})) await new Promise((r) => setTimeout(r, 5));
    const x = inputs[0];
    return [{ name: 'y', datatype: 'FP32', shape: x.shape, data: x.data }];
  },
};`;

function jsModel(name: string, extra = ''): void {
  mkdirSync(join(repo.dir, name, '1'), { recursive: true });
  writeFileSync(join(repo.dir, name, 'config.pbtxt'), `name: "${name}"
backend: "js"
max_batch_size: 4
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
${extra}`);
  writeFileSync(join(repo.dir, name, '1', 'model.js'), HELD);
}

let srv: Running;

before(async () => {
  jsModel('held', `dynamic_batching {
  priority_levels: 2
  default_priority_level: 2
  priority_queue_policy { key: 2 value { max_queue_size: 1 } }
}
parameters { key: "batching_policy" value { string_value: "none" } }`);
  writeFileSync(RELEASE, ''); // warm-up runs through
  srv = await startServer({ modelRepositories: [repo.dir], limits: { maxInflightRequests: 3 } }, 0);
});
after(async () => {
  writeFileSync(RELEASE, '');
  await srv.close();
  repo.remove();
});

const body = (priority: number | undefined, data: unknown = [1]) => ({
  inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data }], ...(priority === undefined ? {} : { parameters: { priority } }),
});

/** Waits (polling the server's own admission) until a request of `priority` would be refused. */
async function untilRefused(priority: number): Promise<string> {
  for (;;) {
    const r = srv.server.admit({ model: 'held', priority, receivedUs: performance.now() * 1000 });
    if (r) return r.code;
    await new Promise((res) => setTimeout(res, 5));
  }
}

/** Sends raw bytes on a new connection; resolves with what comes back before the server closes or `idleMs` passes. */
function raw(port: number, bytes: string, idleMs = 500): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect(port, '127.0.0.1');
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    const done = (closed: boolean) => { clearTimeout(timer); s.destroy(); resolve({ text, closed }); };
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => done(false), idleMs); };
    s.on('data', (c) => { text += c.toString('latin1'); arm(); });
    s.on('close', () => done(true));
    s.on('error', reject);
    s.on('connect', () => { s.write(bytes); arm(); });
  });
}

test('a request its priority\'s queue cannot take is refused before its tensors are decoded; priority 1 is decoded', async () => {
  rmRelease();
  const running = postJson(srv.base, '/v2/models/held/infer', body(1)); // runs, held
  const queued = postJson(srv.base, '/v2/models/held/infer', body(2)); // fills priority 2's queue (max_queue_size 1)
  assert.equal(await untilRefused(2), 'QUEUE_FULL');
  // Tensor data no decoder would accept: a 429 rather than a 400 says the refusal came first.
  const shed = await postJson(srv.base, '/v2/models/held/infer', body(2, 'not a tensor'));
  assert.equal(shed.status, 429);
  assert.match(shed.json.error, /queue of model 'held' is full/);
  assert.ok(Number(shed.headers.get('retry-after')) >= 1);
  // Parameters first, then a body that is not even JSON: judged before its tensors are parsed.
  const early = await call(srv.base, '/v2/models/held/infer', {
    body: '{"id":"a","parameters":{"priority":2},"inputs":[{"name":"x","data":[1,', headers: { 'Content-Type': 'application/json' },
  });
  assert.equal(early.status, 429);
  const decoded = await postJson(srv.base, '/v2/models/held/infer', body(1, 'not a tensor'));
  assert.equal(decoded.status, 400, 'priority 1 has room: its body is decoded, and refused for what it is');
  writeFileSync(RELEASE, '');
  assert.equal((await running).status, 200);
  assert.equal((await queued).status, 200);
});

test('past --max-inflight-requests a request is refused before its body is read, and the server keeps serving', async () => {
  rmRelease();
  const held = [postJson(srv.base, '/v2/models/held/infer', body(1)), postJson(srv.base, '/v2/models/held/infer', body(1)),
    postJson(srv.base, '/v2/models/held/infer', body(2))];
  assert.equal(await untilRefused(1), 'UNAVAILABLE');
  // Headers promise 1000 bytes; only 10 come. An answer means the server did not wait for the body.
  const r = await raw(Number(new URL(srv.base).port), 'POST /v2/models/held/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs":');
  assert.match(r.text, /^HTTP\/1\.1 503 /);
  assert.match(r.text, /\r\nRetry-After: 1\r\n/i);
  assert.match(r.text, /--max-inflight-requests 3/);
  writeFileSync(RELEASE, '');
  for (const h of await Promise.all(held)) assert.equal(h.status, 200);
  // The same kind of request, whole, on a fresh connection, is served again.
  assert.equal((await postJson(srv.base, '/v2/models/held/infer', body(1))).status, 200);
});

test('past --max-connections new connections are closed unanswered; open ones keep working', async () => {
  // A frontend of its own: connections other tests left open would count against the bound.
  const fe = await HttpFrontend.listen(srv.server, { port: 0, host: '127.0.0.1', maxConnections: 4 });
  try {
    const sockets: Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = connect(fe.port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      sockets.push(s);
    }
    // The server accepts in arrival order: this fifth one finds four open (--max-connections applies the same bound).
    const fifth = await raw(fe.port, 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(fifth.closed, true);
    assert.equal(fifth.text, '');
    const answer = await new Promise<string>((resolve) => {
      sockets[0].once('data', (c) => resolve(c.toString('latin1')));
      sockets[0].write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 200 /);
    for (const s of sockets) s.destroy();
  } finally {
    await fe.close();
  }
});

test('model instances\' threads run at a lower priority (nice 10) than request handling, on Linux', { skip: process.platform !== 'linux' }, () => {
  const nice = (tid: string) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  };
  const niceness = readdirSync('/proc/self/task').map(nice);
  assert.equal(nice(String(process.pid)), 0, 'the main thread (request handling) keeps its priority');
  assert.ok(niceness.includes(10), `a thread at nice 10 (the held model's worker): ${niceness.join(' ')}`);
});

function rmRelease(): void {
  rmSync(RELEASE, { force: true });
}
