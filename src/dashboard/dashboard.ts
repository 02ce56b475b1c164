/**
 * The dashboard on the metrics port: one page (hand-written HTML, CSS and JS from ./assets, read once at start-up),
 * its live data at `GET /api/live` (the feed's snapshot as JSON, polled once a second), and `/v2/…` forwarded to the
 * HTTP frontend for the page's try-it panel and load/unload buttons. docs/dashboard.md.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExtraRoutes, LiveFeed } from '../metrics/index.js';
import { forwardV2, type V2Target } from './forward-v2.js';

/**
 * Whether the page offers load/unload (the server's model control API), and whether those calls need a token (sent
 * as `Authorization: Bearer <token>`). Read-only (`enabled: false`) unless the server says otherwise.
 */
export interface DashboardControl {
  readonly enabled: boolean;
  readonly tokenRequired: boolean;
}

export const READ_ONLY: DashboardControl = Object.freeze({ enabled: false, tokenRequired: false });

export interface DashboardOptions {
  readonly feed: LiveFeed;
  /** Name and version shown in the header (the server's metadata). */
  readonly server: { readonly name: string; readonly version: string };
  /** Read at each request (control can change while serving). Default: read-only. */
  readonly control?: () => DashboardControl;
  /** The HTTP frontend, for `/v2/…`; absent: those paths are 404 and the page's try-it panel says so. */
  readonly v2?: V2Target;
}

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

const ASSETS_DIR = new URL('./assets/', import.meta.url);
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8', css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', svg: 'image/svg+xml',
};
const FILES = ['index.html', 'dashboard.css', 'dashboard.js', 'favicon.svg'] as const;

/** The page's files by URL path, read once. */
export function loadAssets(): ReadonlyMap<string, Asset> {
  const out = new Map<string, Asset>();
  for (const f of FILES) {
    const asset = { type: TYPES[f.slice(f.lastIndexOf('.') + 1)], body: readFileSync(new URL(f, ASSETS_DIR)) };
    out.set(`/${f}`, asset);
    if (f === 'index.html') out.set('/', asset);
  }
  return out;
}

/**
 * Only this origin's files and requests; images also from blob: (the try-it panel's uploaded picture). Nothing from
 * elsewhere can load, so the page works offline and a missing asset shows at once.
 */
const CSP = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/** The metrics server's extra routes: the page, its live data, and the forwarded v2 API. */
export function dashboardRoutes(options: DashboardOptions): ExtraRoutes {
  const assets = loadAssets();
  const control = options.control ?? (() => READ_ONLY);
  const forward = options.v2 ? forwardV2(options.v2) : undefined;
  return (req, res, path) => {
    if (path.startsWith('/v2/') || path === '/v2') {
      if (!forward) return false;
      forward(req, res);
      return true;
    }
    const asset = assets.get(path);
    if (!asset && path !== '/api/live') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return true;
    }
    if (asset) {
      send(req, res, asset.type, asset.body, { 'content-security-policy': CSP, 'cache-control': 'no-cache' });
      return true;
    }
    const since = sinceOf(req.url);
    if (since === null) {
      sendJson(req, res, 400, { error: "'since' must be a non-negative integer (the seq of the last snapshot read)" });
      return true;
    }
    sendJson(req, res, 200, { server: options.server, control: control(), v2: forward !== undefined, ...options.feed.snapshot(since) });
    return true;
  };
}

/** `?since=N`: undefined when absent, null when not a non-negative integer. */
function sinceOf(url: string | undefined): number | undefined | null {
  const q = url?.indexOf('?') ?? -1;
  if (q < 0) return undefined;
  const v = new URLSearchParams(url!.slice(q + 1)).get('since');
  if (v === null) return undefined;
  return /^\d{1,15}$/.test(v) ? Number(v) : null;
}

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  send(req, res, 'application/json', Buffer.from(JSON.stringify(value)), { 'cache-control': 'no-store' }, status);
}

function send(req: IncomingMessage, res: ServerResponse, type: string, body: Buffer, headers: Record<string, string>, status = 200): void {
  res.writeHead(status, { 'content-type': type, 'content-length': body.length, 'x-content-type-options': 'nosniff', ...headers });
  res.end(req.method === 'HEAD' ? undefined : body);
}
