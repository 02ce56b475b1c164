/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core) against a real `autoglm serve` of the
 * example repository: every model listed with its state, the mlp's numbers moving while load runs, the try-it panel
 * answering a form request and reading the OCR sample, light and dark, a narrow window, labels on every control.
 * DASHBOARD_SCREENSHOT=path writes the screenshot there (docs/dashboard.png is made so); else to a temporary folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = join(import.meta.dirname, '..', '..');
const REPO = join(ROOT, 'examples', 'model_repository');
const EXAMPLE_MODELS = ['mlp', 'multi_io', 'ocr', 'ocr_crop', 'ocr_ctc', 'ocr_decode', 'ocr_det', 'ocr_rec', 'repeat_int32', 'silero_vad', 'tiny_gpt'];

test('the dashboard shows the example repository live, and its try-it panel runs the mlp and reads the OCR sample', {
  skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM} (install Debian's chromium; .ci/run does)`,
  timeout: 120_000,
}, async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--model-repository', REPO,
    '--http-port', '0', '--grpc-port', '0', '--http-address', '127.0.0.1', '--metrics-port', '0', '--log-format', 'json'],
  { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(async () => {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  });
  const ports = await new Promise<{ http: number; metrics: number }>((resolve, reject) => {
    let http = 0;
    createInterface({ input: child.stdout }).on('line', (line) => {
      const rec = JSON.parse(line) as { msg?: string; port?: number };
      if (rec.msg === 'HTTP server listening') http = rec.port!;
      if (rec.msg === 'metrics server listening') resolve({ http, metrics: rec.port! });
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
  const origin = `http://127.0.0.1:${ports.metrics}`;

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const problems: string[] = [];
  const assetBytes = new Map<string, number>();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith(`blob:${origin}/`)) problems.push(`request elsewhere: ${r.url()}`); });
  page.on('response', async (r) => {
    const path = new URL(r.url()).pathname;
    if (!path.startsWith('/api/') && !path.startsWith('/v2/')) assetBytes.set(path, (await r.body()).length);
  });
  await page.goto(`${origin}/`);
  assert.equal(await page.title(), 'Open-AutoGLM dashboard');

  // Every model of the example repository, READY.
  await page.waitForFunction((n) => document.querySelectorAll('#models tbody tr .c-state.READY').length >= n, EXAMPLE_MODELS.length);
  const rows = await page.$$eval('#models tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-model'), tr.querySelector('.c-state')!.classList.contains('READY')]));
  assert.deepEqual(rows.map(([m]) => m).sort(), EXAMPLE_MODELS);
  assert.ok(rows.every(([, ready]) => ready));
  assert.equal(await page.locator('th.control-col').isHidden(), true, 'read-only: no control column');
  assert.equal(await page.locator('#models button').count(), 0, 'read-only: no load/unload buttons');
  assert.equal(await page.locator('#control-panel').isVisible(), false, 'read-only: no token field');

  // Load on the mlp while the page watches: its req/s, p99, batch sizes and chart line appear.
  const mlpRow = page.locator('#models tr[data-model="mlp"]');
  assert.equal(await mlpRow.locator('.c-rps').textContent(), '0.00');
  let loading = true;
  const body = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 64], data: Array.from({ length: 64 }, (_, i) => (i % 8) / 8 - 0.5) }] });
  const load = Promise.all(Array.from({ length: 4 }, async () => {
    while (loading) {
      const r = await fetch(`http://127.0.0.1:${ports.http}/v2/models/mlp/infer`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    }
  }));
  try {
    await page.waitForFunction(() => {
      const row = document.querySelector('#models tr[data-model="mlp"]')!;
      return Number(row.querySelector('.c-rps')!.textContent) > 0 && row.querySelector('.c-p99')!.textContent !== '–'
        && row.querySelectorAll('.c-batches .bars span').length > 0 && document.querySelector('#chart-rps path[data-key="mlp/1"]') !== null;
    }, undefined, { timeout: 20_000 });
    const first = Number(await mlpRow.locator('.c-rps').textContent());
    // The numbers keep changing from one snapshot to the next while the load runs.
    await page.waitForFunction((before) => Number(document.querySelector('#models tr[data-model="mlp"] .c-rps')!.textContent) !== before, first, { timeout: 10_000 });
    assert.match(await page.locator('#p-rss').textContent() ?? '', /^\d+ MiB$/);
    assert.match(await page.locator('#legend').textContent() ?? '', /mlp\/1/);

    // Try it (while the load runs): the mlp from the form, with the README's sample input.
    await page.selectOption('#try-model', 'mlp');
    await page.locator('#try-inputs textarea').fill(Array.from({ length: 64 }, (_, i) => (i % 8) / 8 - 0.5).join(', '));
    await page.getByRole('button', { name: 'Send request' }).click();
    const answer = JSON.parse(await page.locator('#try-json').textContent({ timeout: 10_000 }) ?? '') as { outputs: Array<{ name: string; data: number[] }> };
    assert.equal(answer.outputs[0].name, 'output');
    assert.ok(Math.abs(answer.outputs[0].data[0] - 0.0493) < 1e-3, `output[0] = ${answer.outputs[0].data[0]}`);

    // Try it: the OCR sample, uploaded; its lines read and boxed on the picture.
    await page.selectOption('#try-model', 'ocr');
    await page.locator('#try-inputs input[type=file]').setInputFiles(join(REPO, 'ocr', 'sample.png'));
    await page.getByRole('button', { name: 'Send request' }).click();
    await page.locator('#ocr-text li').first().waitFor({ timeout: 30_000 });
    assert.deepEqual(await page.locator('#ocr-text li').allTextContents(), ['Hello from Open-AutoGLM', 'p99 latency 42 ms']);
    assert.equal(await page.locator('#ocr-picture rect').count(), 2);
    // The pipeline's request shows in its row at the next snapshot.
    await page.waitForFunction(() => Number(document.querySelector('#models tr[data-model="ocr"] .c-rps')!.textContent) > 0, undefined, { timeout: 10_000 });

    const shotPath = process.env.DASHBOARD_SCREENSHOT ?? join(mkdtempSync(join(tmpdir(), 'dashboard-')), 'dashboard.png');
    if (!process.env.DASHBOARD_SCREENSHOT) t.after(() => rmSync(join(shotPath, '..'), { recursive: true, force: true }));
    const shot = await page.screenshot({ fullPage: true });
    writeFileSync(shotPath, shot);
    assert.ok(shot.length > 20_000, 'a blank page would compress to almost nothing');
  } finally {
    loading = false;
    await load;
  }

  // Keyboard and labels: every control has a label or an accessible name; Tab reaches the model picker.
  const unlabelled = await page.$$eval('input, select, textarea, button', (els) => els.filter((e) => {
    const c = e as HTMLInputElement;
    return !(c.labels && c.labels.length > 0) && !c.getAttribute('aria-label') && !(e.tagName === 'BUTTON' && e.textContent!.trim());
  }).map((e) => e.outerHTML.slice(0, 80)));
  assert.deepEqual(unlabelled, []);
  await page.locator('#try-model').focus();
  await page.keyboard.press('Tab');
  assert.ok(await page.evaluate(() => document.activeElement?.closest('#try-form') !== null), 'Tab moves on inside the try-it form');

  // Light and dark by the user's preference.
  const background = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  await page.emulateMedia({ colorScheme: 'light' });
  const light = await background();
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await background();
  assert.notEqual(light, dark);
  const luminance = (rgb: string) => rgb.match(/\d+/g)!.slice(0, 3).reduce((s, x) => s + Number(x), 0);
  assert.ok(luminance(dark) < luminance(light), `${dark} is darker than ${light}`);

  // A narrow window: nothing wider than the screen (the table scrolls inside its own box).
  await page.setViewportSize({ width: 380, height: 800 });
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no page-wide horizontal scroll');

  // The page's own files (HTML, CSS, JS, icon) stay small.
  const total = [...assetBytes.values()].reduce((a, b) => a + b, 0);
  assert.ok(assetBytes.has('/') && assetBytes.has('/dashboard.js') && assetBytes.has('/dashboard.css'), [...assetBytes.keys()].join());
  assert.ok(total <= 100 * 1024, `${total} bytes`);
  assert.deepEqual(problems, []);
});
