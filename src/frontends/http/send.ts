import type { ServerResponse } from 'node:http';
import type { InferenceError } from '../../core/index.js';

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}

export function sendEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}

/** `{"error": "..."}` with the code's HTTP status; Retry-After for refusals that say when to retry. */
export function sendError(res: ServerResponse, err: InferenceError, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(JSON.stringify({ error: err.message }));
  const headers: Record<string, string | number> = { 'Content-Type': 'application/json', 'Content-Length': body.length, ...extraHeaders };
  if (err.retryAfterSec !== undefined) headers['Retry-After'] = Math.max(0, Math.ceil(err.retryAfterSec));
  if (err.code === 'UNAUTHENTICATED') headers['WWW-Authenticate'] = 'Bearer'; // RFC 6750
  res.writeHead(err.httpStatus, headers);
  res.end(body);
}

/**
 * `{"error": "..."}` with a status outside the error catalog — HTTP-only answers: 405 (with Allow) for a known path
 * with the wrong method, 415 (with Accept-Encoding) for a Content-Encoding the server does not read.
 */
export function sendHttpError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(JSON.stringify({ error: message }));
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(body);
}
