/** Shared by the HTTP tests: temporary repositories, a real server on port 0, and v2 request/response helpers. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceServer, type InferenceServerOptions } from '../../src/server/inference-server.js';
import { HttpFrontend, ThreadedHttpFrontend } from '../../src/frontends/http/index.js';

export function tempRepo(prefix = 'autoglm-http-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Running {
  readonly server: InferenceServer;
  readonly http: HttpFrontend | ThreadedHttpFrontend;
  readonly base: string;
  close(): Promise<void>;
}

/**
 * A server and its HTTP frontend on a free port: on the main thread, or on `httpThreads` frontend threads
 * (default: the AUTOGLM_TEST_HTTP_THREADS environment variable, 0 — so the whole HTTP suite can run against the
 * threaded frontend: `AUTOGLM_TEST_HTTP_THREADS=2 node --import tsx --test test/http/*.test.ts`).
 */
export async function startServer(options: InferenceServerOptions, httpThreads = Number(process.env.AUTOGLM_TEST_HTTP_THREADS ?? 0)): Promise<Running> {
  const server = await InferenceServer.create(options);
  const http = httpThreads > 0
    ? await ThreadedHttpFrontend.listen(server, { threads: httpThreads, port: 0, host: '127.0.0.1', logLevel: 'silent' })
    : await HttpFrontend.listen(server, { port: 0, host: '127.0.0.1' });
  return {
    server,
    http,
    base: `http://127.0.0.1:${http.port}`,
    async close() {
      await http.close();
      await server.close();
    },
  };
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON (the whole body, or the header part of a binary reply); undefined for empty bodies. */
  readonly json: any;
  /** Bytes after the JSON header of a binary reply. */
  readonly binary: Uint8Array;
}

/**
 * One request with fetch. Asks for uncompressed answers unless `headers` says otherwise (fetch asks for gzip by
 * itself, and would inflate the answer out of sight: test/http/compression.test.ts sees the wire).
 */
export async function call(base: string, path: string, init: { method?: string; body?: Uint8Array | string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers = { 'Accept-Encoding': 'identity', ...init.headers };
  const res = await fetch(base + path, { method: init.method ?? (init.body === undefined ? "GET" : "POST"), body: init.body as string | undefined, headers });
  const bytes = new Uint8Array(await res.arrayBuffer());
  const hl = res.headers.get('inference-header-content-length');
  const headerEnd = hl === null ? bytes.length : Number(hl);
  const text = Buffer.from(bytes.subarray(0, headerEnd)).toString('utf8');
  return { status: res.status, headers: res.headers, json: text.length ? JSON.parse(text) : undefined, binary: bytes.subarray(headerEnd) };
}

export function postJson(base: string, path: string, value: unknown): Promise<Reply> {
  return call(base, path, { body: JSON.stringify(value), headers: { 'Content-Type': 'application/json' } });
}

/** A binary-extension request body: JSON header, then the binary parts in order. */
export function binaryBody(header: unknown, parts: readonly Uint8Array[]): { body: Uint8Array; headers: Record<string, string> } {
  const h = Buffer.from(JSON.stringify(header));
  const body = Buffer.concat([h, ...parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))]);
  return { body, headers: { 'Inference-Header-Content-Length': String(h.length), 'Content-Type': 'application/octet-stream' } };
}

export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Splits a binary reply's bytes by the outputs' binary_data_size, in order. */
export function binaryOutputs(reply: Reply): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  let off = 0;
  for (const o of reply.json.outputs as Array<{ name: string; parameters?: { binary_data_size?: number } }>) {
    const n = o.parameters?.binary_data_size;
    if (n === undefined) continue;
    out.set(o.name, reply.binary.slice(off, off + n));
    off += n;
  }
  if (off !== reply.binary.length) throw new Error(`binary reply has ${reply.binary.length - off} unclaimed bytes`);
  return out;
}

/** BYTES elements in the binary encoding (4-byte LE length + bytes each). */
export function encodeBytesElements(elements: readonly string[]): Uint8Array {
  const parts = elements.map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.alloc(parts.reduce((n, p) => n + 4 + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, off);
    p.copy(out, off + 4);
    off += 4 + p.length;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
