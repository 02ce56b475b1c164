/**
 * Scale-out for real on one machine: three `autoglm serve` replicas sharing an LMDB and a Redis cache tier behind
 * Debian's nginx configured from deploy/nginx/open-autoglm.conf. A replica killed mid-load and a rolling restart
 * (SIGTERM, the server drains, start it again) cost the client no request: nginx retries the POST on another
 * replica when a connection fails (`proxy_next_upstream error timeout non_idempotent`); the control, the same kill
 * without `non_idempotent`, fails the requests the dead replica held.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { freePort, RedisServer } from '../fixtures/redis.js';
import { closedLoop, Nginx, Replica } from '../fixtures/replicas.js';

const IN = 8, OUT = 4;
const MLP = mlpModel(IN, 16, OUT, 3);
const skip = Nginx.available() ? false : 'nginx is not installed (.ci/run installs Debian\'s nginx)';

let dir: string;
let redis: RedisServer;
let nginx: Nginx;
const replicas: Replica[] = [];

async function startReplica(k: number, httpPort: number, metricsPort: number): Promise<Replica> {
  const r = await Replica.start({
    repository: join(dir, 'models'), httpPort, metricsPort,
    flags: ['--cache-config', 'local,size=1MiB', '--cache-config', `lmdb,path=${join(dir, 'cache')},size=16MiB`,
      '--cache-config', `redis,host=127.0.0.1,port=${redis.port}`, '--exit-timeout-secs', '20'],
  });
  replicas[k] = r;
  return r;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'autoglm-scale-'));
  writeModel(join(dir, 'models'), 'mlp', MLP.bytes, { config: `name: "mlp"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ ${IN} ] } ]
output [ { name: "output" data_type: TYPE_FP32 dims: [ ${OUT} ] } ]
response_cache { enable: true }` });
  redis = await RedisServer.start();
  const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  await Promise.all([0, 1, 2].map((k) => startReplica(k, ports[2 * k], ports[2 * k + 1])));
  nginx = await Nginx.start(join(dir, 'nginx'), await freePort(), replicas.map((r) => r.opts.httpPort));
}, { timeout: 120_000 });

after(async () => {
  if (skip) return;
  await nginx?.stop();
  await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
  await redis?.kill();
  rmSync(dir, { recursive: true, force: true });
});

const body = (i: number) => JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, IN], data: Array.from(seededFloats(IN, i, 1)) }] });
/** The answer is the model's for request i's input (computed here by the reference MLP). */
const check = (i: number, status: number, reply: Buffer | string): boolean => {
  if (status !== 200) return false;
  const out = (JSON.parse(reply.toString()) as { outputs: { data: number[] }[] }).outputs[0].data;
  const want = MLP.reference(seededFloats(IN, i, 1), 1);
  return out.length === OUT && out.every((v, k) => Math.abs(v - want[k]) < 1e-4);
};
const successes = async (r: Replica) =>
  Number(/^nv_inference_request_success\{model="mlp",version="1"\} (\S+)$/m.exec(await (await fetch(r.metricsUrl)).text())?.[1] ?? 0);

/** Load through nginx while `during` runs; resolves what the client saw. `offset` keeps inputs unseen (cache misses). */
async function underLoad(offset: number, during: (served: () => number) => Promise<void>, through: Nginx = nginx) {
  let release!: () => void;
  const until = new Promise<void>((r) => { release = r; });
  let served = 0;
  const load = closedLoop({
    url: through.url, path: '/v2/models/mlp/infer', concurrency: 12, until, request: (i) => ({ body: body(offset + i) }),
    check: (i, status, reply) => { served++; return check(offset + i, status, reply); },
  });
  try {
    await during(() => served);
  } finally {
    release();
  }
  return load;
}
const noFailures = (failures: readonly string[]) => assert.equal(failures.length, 0,
  `${failures.length} failed requests, e.g.\n${failures.slice(0, 3).join('\n')}\nnginx says:\n${nginx.errorLog(join(dir, 'nginx'))}`);
const waitFor = async (cond: () => boolean) => { while (!cond()) await new Promise((r) => setTimeout(r, 20)); };

test('the replicas share the LMDB and Redis tiers: an answer computed by one is a hit on another', { skip, timeout: 30_000 }, async () => {
  const x = body(1e6);
  const post = (r: Replica) => fetch(`${r.url}/v2/models/mlp/infer`, { method: 'POST', body: x }).then((res) => res.text());
  const first = await post(replicas[0]);
  assert.ok(check(1e6, 200, first));
  const hits = async (r: Replica) =>
    Number(/^nv_cache_num_hits_per_model\{model="mlp",version="1"\} (\S+)$/m.exec(await (await fetch(r.metricsUrl)).text())?.[1] ?? 0);
  // The LMDB write commits asynchronously: poll until replica 1 sees it.
  let second = '';
  for (let i = 0; i < 200 && (await hits(replicas[1])) === 0; i++) {
    second = await post(replicas[1]);
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.ok((await hits(replicas[1])) >= 1, 'a hit on replica 1');
  assert.equal(second, first);
  const client = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true });
  await client.connect();
  try {
    assert.ok((await client.dbsize()) >= 1, 'the answer is in Redis too');
  } finally {
    client.disconnect();
  }
});

test('a replica killed (SIGKILL) mid-load: the client sees no failed request', { skip, timeout: 60_000 }, async () => {
  const victim = replicas[2];
  const before = await successes(victim);
  const { ok, failures } = await underLoad(0, async (served) => {
    await waitFor(() => served() >= 300);
    assert.ok((await successes(victim)) > before, 'the victim was taking load when it was killed');
    await victim.stop('SIGKILL');
    const at = served();
    await waitFor(() => served() >= at + 300);
  });
  noFailures(failures);
  assert.ok(ok >= 600);
  // nginx did meet the dead replica (and so retried elsewhere): the client's 0 failures are not for lack of trying.
  assert.ok(nginx.upstreamErrors(join(dir, 'nginx'), victim.opts.httpPort).length > 0, 'nginx saw the killed replica fail');
  await startReplica(2, victim.opts.httpPort, victim.opts.metricsPort);
});

test('the control: the same kill through nginx without `non_idempotent` fails the requests the dead replica held', { skip, timeout: 60_000 }, async () => {
  const plain = await Nginx.start(join(dir, 'nginx-control'), await freePort(), replicas.map((r) => r.opts.httpPort),
    { edit: (site) => site.replace(/^( *proxy_next_upstream [^;]*) non_idempotent;$/m, '$1;') });
  try {
    assert.doesNotMatch(readFileSync(join(dir, 'nginx-control', 'nginx.conf'), 'utf8'), /^ *proxy_next_upstream [^;]*non_idempotent/m);
    const victim = replicas[2];
    const { failures } = await underLoad(5e5, async (served) => {
      await waitFor(() => served() >= 300);
      await victim.stop('SIGKILL');
      const at = served();
      await waitFor(() => served() >= at + 300);
    }, plain);
    assert.ok(failures.length > 0, 'without non_idempotent, nginx does not resend a POST a replica had received');
    assert.ok(failures.every((f) => / 502 /.test(f)), failures[0]);
    await startReplica(2, victim.opts.httpPort, victim.opts.metricsPort);
  } finally {
    await plain.stop();
  }
});

test('a rolling restart (SIGTERM drains each replica, then it starts again) under load: no failed request', { skip, timeout: 120_000 }, async () => {
  const errorsBefore = replicas.map((r) => nginx.upstreamErrors(join(dir, 'nginx'), r.opts.httpPort).length);
  const { ok, failures } = await underLoad(1e5, async (served) => {
    for (const k of [0, 1, 2]) {
      const old = replicas[k];
      assert.equal(await old.stop('SIGTERM'), 0, `replica ${k} drained and exited 0`);
      const again = await startReplica(k, old.opts.httpPort, old.opts.metricsPort);
      // As a rollout waits for a new pod to be ready and in the endpoints: the next replica goes only once nginx
      // sends this one requests again (after its fail_timeout).
      while ((await successes(again)) === 0) await new Promise((r) => setTimeout(r, 50));
      const at = served();
      await waitFor(() => served() >= at + 100);
    }
  });
  noFailures(failures);
  assert.ok(ok >= 300);
  replicas.forEach((r, k) => assert.ok(nginx.upstreamErrors(join(dir, 'nginx'), r.opts.httpPort).length > errorsBefore[k],
    `nginx met replica :${r.opts.httpPort} restarting (and retried elsewhere)`));
});
