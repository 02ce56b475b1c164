#!/usr/bin/env node
// Replays the Dockerfile without Docker (no engine on these machines): each stage gets its own folder, WORKDIR /x
// maps to <stage>/x, COPY copies from the build context or an earlier stage, RUN runs in the stage's workdir with
// this machine's node and npm (a fresh `npm ci` from the npm registry). Then it runs the image's ENTRYPOINT + CMD
// as written, with /models mapped to a model repository, and checks the HEALTHCHECK command passes once the server
// is ready. What it cannot check: the base image itself, USER, file ownership.
//   node scripts/check-dockerfile.mjs [--keep]     (several minutes: two `npm ci` and a TypeScript build)
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';

const ROOT = resolve(import.meta.dirname, '..');
const keep = process.argv.includes('--keep');
const work = mkdtempSync(join(tmpdir(), 'autoglm-image-'));
const lines = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

const stages = [];
let stage;
const inStage = (s, p) => join(s.root, p.startsWith('/') ? p : join(s.workdir, p));
for (const line of lines) {
  const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line);
  switch (op) {
    case 'FROM': {
      const name = / AS (\S+)$/i.exec(rest)?.[1] ?? `stage${stages.length}`;
      stage = { name, root: join(work, name), workdir: '/', env: {}, entrypoint: [], cmd: [], healthcheck: [] };
      stages.push(stage);
      mkdirSync(stage.root, { recursive: true });
      break;
    }
    case 'WORKDIR': stage.workdir = rest; mkdirSync(inStage(stage, '.'), { recursive: true }); break;
    case 'ENV': for (const [, k, v] of rest.matchAll(/(\w+)=(\S+)/g)) stage.env[k] = v; break;
    case 'COPY': {
      const words = rest.split(/\s+/);
      const fromName = words[0].startsWith('--from=') ? words.shift().slice('--from='.length) : undefined;
      const from = fromName === undefined ? undefined : stages.find((s) => s.name === fromName);
      if (fromName !== undefined && !from) throw new Error(`COPY --from=${fromName}: no such stage`);
      const dest = words.pop();
      for (const src of words) {
        const source = from ? inStage(from, src) : join(ROOT, src);
        const target = dest.endsWith('/') || words.length > 1 ? join(inStage(stage, dest), src.split('/').pop()) : inStage(stage, dest);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(source, target, { recursive: true, filter: (p) => !p.includes('/node_modules/') || Boolean(from) });
      }
      break;
    }
    case 'RUN': {
      console.log(`[${stage.name}] RUN ${rest}`);
      const t0 = Date.now();
      const r = spawnSync('sh', ['-c', rest], { cwd: inStage(stage, '.'), stdio: 'inherit', env: { ...process.env, ...stage.env } });
      if (r.status !== 0) throw new Error(`[${stage.name}] RUN failed (${r.status}): ${rest}`);
      console.log(`[${stage.name}]   ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      break;
    }
    case 'ENTRYPOINT': stage.entrypoint = JSON.parse(rest); break;
    case 'CMD': stage.cmd = JSON.parse(rest); break;
    case 'HEALTHCHECK': stage.healthcheck = JSON.parse(/CMD (\[.*\])$/.exec(rest)[1]); break;
    default: break; // USER, EXPOSE, VOLUME, LABEL: facts of the image, nothing to replay
  }
}

const final = stages.at(-1);
const free = () => new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const [http, grpc, metrics] = [await free(), await free(), await free()];
// The image's command as written: /app → the final stage's folder, /models → the repository's example models.
const map = (a) => a.replace(/^\/app\//, `${final.root}/app/`).replace(/^\/models$/, join(ROOT, 'examples', 'model_repository'));
const argv = [...final.entrypoint, ...final.cmd].map(map);
const ports = ['--http-address', '127.0.0.1', '--http-port', String(http), '--grpc-port', String(grpc), '--metrics-port', String(metrics)];
console.log(`[image] ${argv.join(' ')} ${ports.join(' ')}`);
const child = spawn(argv[0], [...argv.slice(1), ...ports], { cwd: inStage(final, '.'), env: { PATH: process.env.PATH, HOME: final.root, ...final.env }, stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (c) => { out += c; });
let ok = false;
for (let i = 0; i < 600 && child.exitCode === null; i++) {
  await new Promise((r) => setTimeout(r, 100));
  const check = final.healthcheck.map((a) => a.replace('127.0.0.1:8000', `127.0.0.1:${http}`));
  if (spawnSync(check[0], check.slice(1)).status === 0) { ok = true; break; }
}
child.kill('SIGTERM');
const code = await new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (c, s) => r(c ?? s))));
if (!keep) rmSync(work, { recursive: true, force: true });
if (!ok) { console.error(out.slice(-4000)); throw new Error('the image command never passed its HEALTHCHECK'); }
console.log(`[image] HEALTHCHECK passed (/v2/health/ready); SIGTERM → exit ${code}${keep ? `; tree kept in ${work}` : ''}`);
if (code !== 0) process.exit(1);
