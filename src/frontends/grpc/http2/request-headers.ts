/** A request's header list as the gRPC frontend reads it, checked against RFC 9113 §8.2–8.3's rules for requests. */
import type { HeaderList } from './hpack.js';

/** Request headers: lowercase names; repeated fields joined with ', '. */
export type RequestHeaders = Record<string, string>;

/** Headers a request must not carry (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const REQUEST_PSEUDO = new Set([':method', ':scheme', ':path', ':authority']);

/** The request's fields as an object, or why the request is malformed (RFC 9113 §8.2, §8.3.1). */
export function requestHeaders(list: HeaderList): RequestHeaders | string {
  const headers: RequestHeaders = {};
  let regularSeen = false;
  for (let i = 0; i < list.names.length; i++) {
    const name = list.names[i];
    const value = list.values[i];
    if (name.length === 0) return 'an empty header name';
    if (name !== name.toLowerCase()) return `header name '${name}' has uppercase letters`;
    if (name[0] === ':') {
      if (regularSeen) return `pseudo-header ${name} after a regular header`;
      if (!REQUEST_PSEUDO.has(name)) return `pseudo-header ${name} is not a request's`;
      if (headers[name] !== undefined) return `pseudo-header ${name} twice`;
      headers[name] = value;
      continue;
    }
    regularSeen = true;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header ${name}`;
    if (name === 'te' && value !== 'trailers') return `te: ${value} (only 'trailers' is allowed)`;
    const prev = headers[name];
    headers[name] = prev === undefined ? value : `${prev}, ${value}`;
  }
  if (headers[':method'] === undefined || headers[':path'] === undefined || (headers[':method'] !== 'CONNECT' && headers[':scheme'] === undefined)) {
    return 'a request without :method, :scheme or :path';
  }
  return headers;
}
