/**
 * Triton's generate extension over real HTTP (docs/streaming.md): generate (one JSON answer) and generate_stream
 * (Server-Sent Events), on the main-thread frontend and on a frontend thread (RemoteService carries the stream).
 * Decoupled models answer many events; an ordinary model one; errors before the first event are JSON errors with
 * their status, after it an error event; a client that disconnects mid-stream stops the model.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { markerWritten, writeStreamModels } from '../fixtures/stream-models.js';
import { type Running, call, postJson, startServer, tempRepo } from './helpers.js';

const repo = tempRepo('autoglm-generate-');
let markers: string;
before(() => { markers = writeStreamModels(repo.dir); });
after(() => repo.remove());

/** A generate_stream answer: its status, content type, and the JSON of each `data:` event in order. */
async function sse(base: string, path: string, body: unknown): Promise<{ status: number; type: string | null; events: any[] }> {
  const res = await fetch(base + path, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  const text = await res.text();
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) return { status: res.status, type: res.headers.get('content-type'), events: [JSON.parse(text)] };
  assert.ok(text === '' || text.endsWith('\n\n'), 'each event ends with a blank line');
  const events = text.split('\n\n').filter((e) => e !== '').map((e) => {
    assert.ok(e.startsWith('data: '), `an event is one data line: ${e}`);
    return JSON.parse(e.slice('data: '.length));
  });
  return { status: res.status, type: res.headers.get('content-type'), events };
}

for (const threads of [0, 1]) {
  describe(threads === 0 ? 'main-thread frontend' : 'frontend thread', () => {
    let srv: Running;
    before(async () => { srv = await startServer({ modelRepositories: [repo.dir] }, threads); });
    after(async () => { await srv.close(); });

    test('generate_stream: one event per response of a decoupled model, in order, outputs by name', async () => {
      const r = await sse(srv.base, '/v2/models/repeat_int32/generate_stream', { IN: [4, 2, 0, 1], DELAY: [0, 1, 0, 1] });
      assert.equal(r.status, 200);
      assert.equal(r.type, 'text/event-stream; charset=utf-8');
      assert.deepEqual(r.events, [0, 1, 2, 3].map((i) => ({ model_name: 'repeat_int32', model_version: '1', OUT: [4, 2, 0, 1][i], IDX: i })));
      const v = await sse(srv.base, '/v2/models/repeat_int32/versions/1/generate_stream', { IN: [] });
      assert.deepEqual(v, { status: 200, type: 'text/event-stream; charset=utf-8', events: [] });
    });

    test('generate: the one response as JSON; an ordinary model on generate and generate_stream answers once', async () => {
      const one = await postJson(srv.base, '/v2/models/repeat_int32/generate', { IN: 9 });
      assert.equal(one.status, 200);
      assert.deepEqual(one.json, { model_name: 'repeat_int32', model_version: '1', OUT: 9, IDX: 0 });
      const echo = await postJson(srv.base, '/v2/models/plain_echo/generate', { X: [1, 2, 3], parameters: { note: 'ignored' }, temperature: 0 });
      assert.deepEqual(echo.json, { model_name: 'plain_echo', model_version: '1', Y: [2, 4, 6] });
      const s = await sse(srv.base, '/v2/models/plain_echo/generate_stream', { X: [5, 6] });
      assert.deepEqual(s.events, [{ model_name: 'plain_echo', model_version: '1', Y: [10, 12] }]);
    });

    test('generate refuses a model that answers more than once (501, the model stopped); infer refuses a decoupled model', async () => {
      const many = await postJson(srv.base, '/v2/models/stream_probe/generate', { N: -1, MODE: 'tag=many' + threads });
      assert.equal(many.status, 501);
      assert.match(many.json.error, /more than once: generate returns exactly one response/);
      await markerWritten(markers, 'many' + threads);
      const infer = await postJson(srv.base, '/v2/models/repeat_int32/infer', { inputs: [{ name: 'IN', datatype: 'INT32', shape: [1], data: [1] }] });
      assert.equal(infer.status, 501);
      assert.match(infer.json.error, /decoupled/);
    });

    test('errors: before the first event a JSON error with its status; after it an error event that ends the stream', async () => {
      const unknown = await sse(srv.base, '/v2/models/nope/generate_stream', { IN: [1] });
      assert.equal(unknown.status, 404);
      assert.match(unknown.events[0].error, /unknown model 'nope'/);
      const bad = await sse(srv.base, '/v2/models/repeat_int32/generate_stream', { IN: [1, 2], DELAY: [1] });
      assert.equal(bad.status, 400);
      assert.match(bad.events[0].error, /DELAY has 1 elements, IN has 2/);
      const param = await sse(srv.base, '/v2/models/repeat_int32/generate_stream', { IN: [1], extra: { nested: true } });
      assert.equal(param.status, 400);
      assert.match(param.events[0].error, /parameter 'extra' must be a string, a number or a boolean/);
      const ragged = await sse(srv.base, '/v2/models/plain_echo/generate_stream', { X: [[1, 2], [3]] });
      assert.equal(ragged.status, 400);
      assert.match(ragged.events[0].error, /not rectangular/);
      const notJson = await call(srv.base, '/v2/models/plain_echo/generate', { body: '{"X": [1', headers: { 'Content-Type': 'application/json' } });
      assert.equal(notJson.status, 400);
      assert.match(notJson.json.error, /malformed request JSON/);
      const mid = await sse(srv.base, '/v2/models/stream_probe/generate_stream', { N: 10, MODE: 'fail=2' });
      assert.equal(mid.status, 200);
      assert.deepEqual(mid.events.slice(0, 2).map((e) => e.I), [0, 1]);
      assert.equal(mid.events.length, 3);
      assert.match(mid.events[2].error, /failed before response 2/);
    });

    test('the client disconnects mid-stream: the generator is stopped (its finally runs), the one instance takes the next request', async () => {
      const tag = 'gone' + threads;
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(`${srv.base}/v2/models/stream_probe/generate_stream`, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (res) => {
          assert.equal(res.statusCode, 200);
          let seen = '';
          res.on('data', (chunk: Buffer) => {
            seen += chunk.toString();
            if (seen.split('\n\n').length > 3) {
              req.destroy();
              resolve();
            }
          });
        });
        req.on('error', () => {});
        req.on('close', () => resolve());
        setTimeout(() => reject(new Error('no events')), 20_000).unref();
        req.end(JSON.stringify({ N: -1, MODE: `tag=${tag}` }));
      });
      await markerWritten(markers, tag);
      const next = await sse(srv.base, '/v2/models/stream_probe/generate_stream', { N: 2 });
      assert.deepEqual(next.events.map((e) => e.I), [0, 1]);
    });

    test('/v2 lists the generate extension', async () => {
      assert.ok((await call(srv.base, '/v2')).json.extensions.includes('generate'));
    });
  });
}
