/**
 * GET a small document (model metadata, Prometheus text) with node:http — not fetch(), which refuses the WHATWG
 * "bad ports" (1, 6000, 6665–6669, 10080, …) that a server may well listen on.
 */
import { request } from 'node:http';

export interface GetResult {
  readonly status: number;
  readonly text: string;
}

/** Rejects with an Error whose `code` is the network error (ECONNREFUSED, ETIMEDOUT, …). */
export function httpGet(url: string, timeoutMs: number): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}
