import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  scanRepositories, selectVersions, modelFilePath, loadModelConfig, ConfigError, isPlainName, type IgnoredEntry,
} from '../../src/repository/index.js';
import type { VersionPolicy } from '../../src/core/index.js';
import { mlpModel, writeModel } from '../fixtures/models.js';

const tmp = mkdtempSync(join(tmpdir(), 'repo-scan-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const mlp = mlpModel(4, 4, 2).bytes;

function dir(...parts: string[]): string {
  const p = join(tmp, ...parts);
  mkdirSync(p, { recursive: true });
  return p;
}

test('scan: models, numeric versions sorted, config presence; hidden and non-version entries skipped', async () => {
  const root = dir('r1');
  writeModel(root, 'alpha', mlp, { version: '10' });
  writeModel(root, 'alpha', mlp, { version: '2' });
  writeModel(root, 'alpha', mlp, { version: '1' });
  dir('r1', 'alpha', '.7'); // hidden: not a version
  dir('r1', 'alpha', '007'); // leading zeros: not a version name
  dir('r1', 'alpha', '0'); // versions start at 1
  dir('r1', 'alpha', 'notes');
  writeFileSync(join(root, 'alpha', '3'), 'a file, not a folder');
  writeModel(root, 'beta', mlp, { config: 'max_batch_size: 2' });
  dir('r1', 'empty_model');
  dir('r1', '.hidden_model', '1');
  writeFileSync(join(root, 'README.md'), 'not a model');
  const ignored: IgnoredEntry[] = [];
  const models = await scanRepositories([root], (e) => ignored.push(e));
  assert.deepEqual(models, [
    { name: 'alpha', root, modelDir: join(root, 'alpha'), versions: [1, 2, 10], hasConfig: false },
    { name: 'beta', root, modelDir: join(root, 'beta'), versions: [1], hasConfig: true },
    { name: 'empty_model', root, modelDir: join(root, 'empty_model'), versions: [], hasConfig: false },
  ]);
  assert.deepEqual(ignored, []);
});

test('scan: a folder whose name is not a plain model name is never produced, and is reported', async () => {
  const root = dir('r2');
  writeModel(root, 'good', mlp);
  writeModel(root, 'has space', mlp);
  writeModel(root, 'ümlaut', mlp);
  writeModel(root, '-dash', mlp);
  const ignored: IgnoredEntry[] = [];
  const models = await scanRepositories([root], (e) => ignored.push(e));
  assert.deepEqual(models.map((m) => m.name), ['good']);
  assert.deepEqual(ignored.map((e) => e.path).sort(), [join(root, '-dash'), join(root, 'has space'), join(root, 'ümlaut')]);
  assert.match(ignored[0].reason, /is not a plain model name/);
});

test('scan: the same name in two roots errors that model only; the same root twice is one root', async () => {
  const a = dir('ra');
  const b = dir('rb');
  writeModel(a, 'shared', mlp);
  writeModel(b, 'shared', mlp);
  writeModel(a, 'only_a', mlp);
  writeModel(b, 'only_b', mlp);
  const models = await scanRepositories([a, b]);
  assert.deepEqual(models.map((m) => [m.name, m.root, m.error !== undefined]), [
    ['only_a', a, false], ['only_b', b, false], ['shared', a, true], ['shared', b, true],
  ]);
  const dup = models.find((m) => m.name === 'shared')!;
  assert.match(dup.error!, /model 'shared' is in more than one repository/);
  const e = await loadModelConfig(dup).catch((err: unknown) => err);
  assert.ok(e instanceof ConfigError && /more than one repository/.test(e.message));
  // Loading the others is unaffected.
  assert.equal((await loadModelConfig(models[0])).config.name, 'only_a');
  assert.equal((await scanRepositories([a, a])).filter((m) => m.error).length, 0);
});

test('scan: a symlinked model folder counts; a missing root throws naming it', async () => {
  const root = dir('r3');
  const real = writeModel(dir('elsewhere'), 'real', mlp);
  symlinkSync(real, join(root, 'linked'));
  assert.deepEqual((await scanRepositories([root])).map((m) => [m.name, m.versions]), [['linked', [1]]]);
  await assert.rejects(scanRepositories([join(tmp, 'nope')]), /model repository .*nope cannot be read: ENOENT/);
  const file = join(tmp, 'afile');
  writeFileSync(file, '');
  await assert.rejects(scanRepositories([file]), /is not a folder/);
});

test('selectVersions: latest n, all, specific (only those present)', () => {
  const sel = (p: VersionPolicy, av: number[]) => selectVersions({ version_policy: p }, av);
  assert.deepEqual(sel({ latest: { num_versions: 1 } }, [3, 1, 2]), [3]);
  assert.deepEqual(sel({ latest: { num_versions: 2 } }, [3, 1, 10]), [3, 10]);
  assert.deepEqual(sel({ latest: { num_versions: 5 } }, [2, 1]), [1, 2]);
  assert.deepEqual(sel({ latest: { num_versions: 1 } }, []), []);
  assert.deepEqual(sel({ all: {} }, [4, 2]), [2, 4]);
  assert.deepEqual(sel({ specific: { versions: [2, 7] } }, [1, 2, 3]), [2]);
});

test('selectVersions agrees with a direct reading of the policy (random inputs)', () => {
  const versions = fc.uniqueArray(fc.integer({ min: 1, max: 50 }), { maxLength: 12 });
  const policy: fc.Arbitrary<VersionPolicy> = fc.oneof(
    fc.integer({ min: 1, max: 15 }).map((n) => ({ latest: { num_versions: n } })),
    fc.constant({ all: {} }),
    versions.map((v) => ({ specific: { versions: v } })),
  );
  fc.assert(fc.property(policy, versions, (p, av) => {
    const got = selectVersions({ version_policy: p }, av);
    const sorted = [...av].sort((x, y) => x - y);
    let want: number[];
    if ('all' in p) want = sorted;
    else if ('specific' in p) want = sorted.filter((v) => p.specific.versions.includes(v));
    // The n largest: each selected version has fewer than n larger available versions.
    else want = sorted.filter((v) => sorted.filter((w) => w > v).length < p.latest.num_versions);
    assert.deepEqual(got, want);
  }), { numRuns: 200 });
});

test('modelFilePath and isPlainName', () => {
  assert.equal(modelFilePath('/r/m', 3, { default_model_filename: 'model.onnx' }), join('/r/m', '3', 'model.onnx'));
  assert.equal(modelFilePath('/r/m', '12', { default_model_filename: 'net.onnx' }), join('/r/m', '12', 'net.onnx'));
  for (const ok of ['mlp', 'multi_io', 'a.b-c', '0x']) assert.ok(isPlainName(ok), ok);
  for (const bad of ['', '.', '..', '.hidden', 'a/b', 'a\\b', 'a b', '-x', 'é', 'x'.repeat(256)]) assert.ok(!isPlainName(bad), bad);
});
