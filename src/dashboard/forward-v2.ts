import { Agent, request, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';

/** Where the KServe v2 HTTP API listens (the HTTP frontend). */
export interface V2Target {
  readonly host: string;
  readonly port: number;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1): they belong to one connection and are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** The host to connect to for a listening address: a wildcard address is reached on loopback. */
export function connectHost(address: string): string {
  if (address === '0.0.0.0' || address === '') return '127.0.0.1';
  if (address === '::') return '::1';
  return address;
}

/**
 * Forwards a `/v2/…` request from the dashboard's port to the HTTP frontend, body and answer streamed as they are, so
 * the page's try-it and load/unload buttons talk to the real API (same origin for the browser; same limits, errors
 * and token checks as on the HTTP port). An unreachable frontend is answered 502 in the v2 error shape.
 */
export function forwardV2(target: V2Target): (req: IncomingMessage, res: ServerResponse) => void {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return (req, res) => {
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    headers.host = `${host}:${target.port}`;
    const up = request({ host: target.host, port: target.port, method: req.method, path: req.url, headers, agent }, (answer) => {
      const out: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
    });
    up.on('error', (err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = JSON.stringify({ error: `the inference API is not reachable: ${err.message}` });
      res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
    });
    // The browser gave up: so does the forwarded request (the frontend then drops it from its queue).
    res.on('close', () => { if (!res.writableFinished) up.destroy(); });
    req.pipe(up);
  };
}
