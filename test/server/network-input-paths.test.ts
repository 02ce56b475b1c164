/**
 * No input from the network reaches a filesystem path (issue 14, SECURITY.md). The only place a request names
 * something on disk is the repository API's load (`POST /v2/repository/models/<name>/load`, gRPC RepositoryModelLoad):
 * it looks for `<repository>/<name>`. Model names are plain names (isPlainName: one path segment, not hidden, not
 * `..`), checked by the router and again by the server; versions are digits and only select among loaded versions.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import fc from 'fast-check';
import { isPlainName } from '../../src/server/names.js';
import { mlpModel, writeModel } from '../fixtures/models.js';
import { type Running, call, startServer } from '../http/helpers.js';

test('a plain name always resolves to a direct child of the repository (200,000 random and hostile strings)', () => {
  const root = resolve('/srv/models');
  const check = (s: string) => {
    if (!isPlainName(s)) return;
    const p = resolve(root, s);
    assert.equal(dirname(p), root, `'${s}' escapes: ${p}`);
    assert.ok(!s.includes('/') && !s.includes('\\') && !s.includes('\0') && !s.startsWith('.'), JSON.stringify(s));
  };
  const hostile = fc.constantFrom('..', '.', '../x', 'a/../..', '/etc/passwd', '\\..\\x', 'a\0b', '.hidden', '', ' ', '..\u2215x',
    '%2e%2e', 'a'.repeat(256), '\uff0e\uff0e', 'con', 'x\n', '~', '~root', '$HOME', '*');
  fc.assert(fc.property(fc.oneof(hostile, fc.string({ unit: 'binary', maxLength: 40 }), fc.stringMatching(/^[A-Za-z0-9_./\\%-]{0,12}$/)), (s) => {
    check(s);
  }), { seed: 1404, numRuns: 200_000 });
});

const repoRoot = mkdtempSync(join(tmpdir(), 'autoglm-paths-'));
const repo = join(repoRoot, 'repo');
let srv: Running;

before(async () => {
  writeModel(repo, 'mlp', mlpModel(4, 8, 2).bytes);
  // A model folder beside the repository, not in it: no request may load it.
  writeModel(repoRoot, 'outside', mlpModel(4, 8, 2).bytes);
  srv = await startServer({ modelRepositories: [repo], modelControlMode: 'explicit', startupModels: ['*'] });
});
after(async () => {
  await srv.close();
  rmSync(repoRoot, { recursive: true, force: true });
});

test('repository load/unload: names that would leave the repository are refused (400), the model beside it stays out', async () => {
  for (const name of ['..%2Foutside', '%2E%2E%2Foutside', '..%5Coutside', '.%2E%2Foutside', '%2Fetc%2Fpasswd', 'a%00b', '.hidden',
    '%2E%2E', '..']) {
    for (const op of ['load', 'unload']) {
      const r = await call(srv.base, `/v2/repository/models/${name}/${op}`, { method: 'POST', body: '' });
      assert.ok(r.status === 400 || r.status === 404, `${op} ${name}: ${r.status}`);
      assert.equal(typeof r.json?.error, 'string', `${op} ${name}`);
    }
  }
  // Plain but absent from the repository: not found, although a folder of that name exists one level up.
  const r = await call(srv.base, '/v2/repository/models/outside/load', { method: 'POST', body: '' });
  assert.equal(r.status, 404);
  const index = await call(srv.base, '/v2/repository/index', { method: 'POST', body: '' });
  assert.deepEqual((index.json as Array<{ name: string }>).map((m) => m.name), ['mlp']);
});

test('model names and versions in inference and metadata paths: refused before anything is looked up', async () => {
  for (const path of ['/v2/models/..%2Fmlp/infer', '/v2/models/%2E%2E/ready', '/v2/models/mlp/versions/..%2F1/infer',
    '/v2/models/mlp/versions/1e3', '/v2/models/mlp/versions/-1/ready', '/v2/models/mlp/versions/%31%2F..']) {
    const r = await call(srv.base, path, path.endsWith('infer') ? { body: '{}' } : {});
    assert.ok(r.status === 400 || r.status === 404, `${path}: ${r.status}`);
  }
  await assert.rejects(srv.server.loadModel('../outside'), /not a plain model name/);
  await assert.rejects(srv.server.loadModel('outside'), /no model 'outside'/);
});
