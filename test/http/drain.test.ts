/**
 * What a draining HTTP frontend does (issue 14's decision): after close() it accepts no connection, closes idle
 * ones, and a request that arrives on a connection still open is served, with `Connection: close`, so its client
 * gets an answer and then goes elsewhere; close() resolves once every request in flight has been answered.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { InferenceServer } from '../../src/server/inference-server.js';
import { HttpFrontend } from '../../src/frontends/http/index.js';
import { seededFloats, slowModel, writeModel } from '../fixtures/models.js';
import { binaryBody, bytesOf, call, tempRepo } from './helpers.js';

/** Everything the server sends on `socket` until it closes it. */
function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    socket.on('close', () => resolve(text));
    socket.on('error', () => undefined);
  });
}

test('draining: a request arriving on an open connection is served with Connection: close; new connections are refused', async () => {
  const repo = tempRepo('autoglm-drain-');
  writeModel(repo.dir, 'slow', slowModel(48), { config: `
max_batch_size: 256
input [ { name: "x" data_type: TYPE_FP32 dims: [ 512 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 512 ] } ]
` });
  const server = await InferenceServer.create({ modelRepositories: [repo.dir] });
  const fe = await HttpFrontend.listen(server, { port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${fe.port}`;
  try {
    // A slow request keeps the frontend draining for a while.
    const x = seededFloats(256 * 512, 3, 1);
    const { body, headers } = binaryBody({
      inputs: [{ name: 'x', datatype: 'FP32', shape: [256, 512], parameters: { binary_data_size: x.byteLength } }],
      parameters: { binary_data_output: true },
    }, [bytesOf(x)]);
    const slow = call(base, '/v2/models/slow/infer', { body, headers });
    // A second client has half sent its request line when the drain starts: its connection is not idle.
    const late = connect(fe.port, '127.0.0.1');
    await new Promise((r) => late.once('connect', r));
    const lateReply = readAll(late);
    late.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n');
    // An idle keep-alive connection: closed by the drain.
    const idle = connect(fe.port, '127.0.0.1');
    await new Promise((r) => idle.once('connect', r));
    const idleReply = readAll(idle);
    idle.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));

    const closed = fe.close();
    let closedYet = false;
    void closed.then(() => { closedYet = true; });
    late.write('\r\n');
    const lateText = await lateReply;
    assert.match(lateText, /^HTTP\/1\.1 200/, 'the late request is served');
    assert.match(lateText, /connection: close/i, 'and told to close');
    assert.match(await idleReply, /^HTTP\/1\.1 200/, 'the idle connection had its answer, then was closed');
    await assert.rejects(call(base, '/v2/health/live'), 'no new connection is accepted');
    assert.equal((await slow).status, 200, 'the request in flight completes');
    await closed;
    assert.ok(closedYet);
  } finally {
    await fe.close();
    await server.close();
    repo.remove();
  }
});
