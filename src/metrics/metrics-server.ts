import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROMETHEUS_CONTENT_TYPE } from './registry.js';

export interface MetricsServer {
  /** The port it listens on (the real one when started on port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Answers a request on the metrics port other than /metrics (the dashboard); false = not its path (404). */
export type ExtraRoutes = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

/**
 * Serves `GET /metrics` (Prometheus text format, rendered at each scrape) on its own port, as Triton does on 8002,
 * and whatever `routes` answers (the dashboard, src/dashboard/). Anything else is 404; methods other than GET/HEAD
 * on /metrics are 405.
 */
export function startMetricsServer(render: () => string, opts: { port: number; address?: string; routes?: ExtraRoutes }): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' && opts.routes?.(req, res, path)) return;
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    let body: string;
    try {
      body = render();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.address ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((res) => {
          server.close(() => res());
          server.closeAllConnections();
        }),
      });
    });
  });
}
