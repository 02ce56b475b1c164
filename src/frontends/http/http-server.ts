import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { pino, type Logger } from 'pino';
import { CancelSource, InferenceError, type InferenceResponse, type RequestLimits, invalidArgument, notFound, toInferenceError } from '../../core/index.js';
import type { AdmissionProbe, InferenceService } from '../../server/service.js';
import { matchRoute, type Route } from './router.js';
import { readBody } from './read-body.js';
import { decodeInferRequest } from './decode-request.js';
import { generateAnswerOf, generateRequestOf } from './generate.js';
import { type EncodedResponse, encodeInferResponse } from './encode-response.js';
import { sendEmpty, sendError, sendHttpError, sendJson } from './send.js';
import { ACCEPTED_CODINGS, type ContentCoding, compress, requestCoding, responseCoding } from './content-encoding.js';
import { LoopDelay } from '../loop-delay.js';

/**
 * What the frontend calls: an InferenceService, or a proxy of one in another thread (whose answers are promises).
 */
export type FrontendService = {
  readonly limits: RequestLimits;
  /** Synchronous: a frontend asks before reading or decoding a request (InferenceService.admit). */
  admit(probe: AdmissionProbe): InferenceError | undefined;
} & {
  readonly [K in 'infer' | 'inferStream' | 'isLive' | 'isReady' | 'serverMetadata' | 'modelMetadata' | 'modelConfig' | 'isModelReady'
    | 'repositoryIndex' | 'modelStatistics' | 'loadModel' | 'unloadModel']: (...args: Parameters<InferenceService[K]>) =>
      ReturnType<InferenceService[K]> | Promise<Awaited<ReturnType<InferenceService[K]>>>;
};

export interface HttpFrontendOptions {
  /** 0 = any free port. Default 8000. */
  readonly port?: number;
  /** Accept on this already-listening socket instead (several frontend threads share one port); port/host unused. */
  readonly fd?: number;
  /** Default 0.0.0.0. */
  readonly host?: string;
  readonly logger?: Logger;
  /** How long close() waits for in-flight requests before cutting connections. Default 30 s. */
  readonly closeGraceMs?: number;
  /** Open connections at most; default the service's limits.maxConnections. */
  readonly maxConnections?: number;
}

const HEADER_LENGTH = 'inference-header-content-length';

/**
 * Infer responses smaller than this go uncompressed whatever Accept-Encoding says (HTTP lets the server choose
 * identity): on a few hundred bytes gzip saves nothing and costs a trip to zlib's thread pool. Express's
 * `compression` uses the same 1 KiB threshold; Triton compresses every size.
 */
const MIN_COMPRESSED_BYTES = 1024;

/** After a 413, at most this much more of the body is read (and dropped) before the connection is cut. */
const OVERSIZE_DRAIN_BYTES = 4 << 20;

/**
 * The KServe v2 REST frontend: protocol only, over an InferenceService. Keep-alive connections; bodies read under
 * the service's body limit; every failure answered as `{"error": "..."}` with the catalog's status.
 */
export class HttpFrontend {
  private inFlight = 0;
  /** Bytes of infer request bodies held now (declared Content-Length, from arrival to answer). */
  private heldBytes = 0;
  private closing: Promise<void> | undefined;
  private idleWaiter: (() => void) | undefined;
  private readonly loopDelay = new LoopDelay();

  private constructor(private readonly server: Server, private readonly service: FrontendService, private readonly log: Logger) {}

  static listen(service: FrontendService, options: HttpFrontendOptions = {}): Promise<HttpFrontend> {
    const log = options.logger ?? pino({ level: 'silent' });
    const server = createServer({ keepAlive: true, requestTimeout: 300_000 });
    server.keepAliveTimeout = 65_000;
    // Past it node:http closes new connections as they are accepted: the cheapest refusal there is.
    server.maxConnections = options.maxConnections ?? service.limits.maxConnections;
    const fe = new HttpFrontend(server, service, log);
    fe.grace = options.closeGraceMs ?? 30_000;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => fe.onRequest(req, res));
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    return new Promise((resolve, reject) => {
      const failed = (err: Error) => {
        fe.loopDelay.stop();
        reject(err);
      };
      server.once('error', failed);
      const listening = () => {
        server.off('error', failed);
        resolve(fe);
      };
      if (options.fd !== undefined) server.listen({ fd: options.fd }, listening);
      else server.listen(options.port ?? 8000, options.host ?? '0.0.0.0', listening);
    });
  }

  private grace = 30_000;

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** The listening socket's file descriptor (other frontend threads accept on it too); undefined if unknown. */
  get listeningFd(): number | undefined {
    const fd = (this.server as unknown as { _handle?: { fd?: number } })._handle?.fd;
    return typeof fd === 'number' && fd >= 0 ? fd : undefined;
  }

  get address(): string {
    return (this.server.address() as AddressInfo).address;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    // Dated back by the loop's recent lateness: the request may have waited that long in its socket.
    const receivedUs = performance.now() * 1000 - this.loopDelay.us;
    this.inFlight++;
    res.once('close', () => {
      this.inFlight--;
      if (this.closing) {
        this.server.closeIdleConnections();
        if (this.inFlight === 0) this.idleWaiter?.();
      }
    });
    if (this.closing) res.setHeader('Connection', 'close');
    this.handle(req, res, receivedUs).catch((err: unknown) => this.fail(req, res, toInferenceError(err)));
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: InferenceError): void {
    if (err.code === 'INTERNAL') this.log.error({ err, url: req.url }, 'request failed');
    else if (this.log.isLevelEnabled('debug')) this.log.debug({ code: err.code, msg: err.message, url: req.url }, 'request refused');
    if (err.code === 'PAYLOAD_TOO_LARGE' && !req.complete) {
      // Answer at once, then read and drop what the client is still sending, up to a bound, keeping the connection:
      // closing with its bytes unread would reset it, and the client could lose the answer (seen with frontend
      // threads, which answer before the client has finished writing). Past the bound the connection is cut.
      let dropped = 0;
      req.on('data', (chunk: Buffer) => {
        dropped += chunk.length;
        if (dropped > OVERSIZE_DRAIN_BYTES) req.socket.destroy();
      });
      req.resume();
      sendError(res, err);
      return;
    }
    sendError(res, err);
  }

  private async handle(req: IncomingMessage, res: ServerResponse, receivedUs: number): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const match = matchRoute(q === -1 ? url : url.slice(0, q));
    if (!match) {
      req.resume();
      throw notFound(`no endpoint ${req.method} ${url}`);
    }
    if (req.method !== match.method) {
      req.resume();
      return sendHttpError(res, 405, `method ${req.method} not allowed on ${url} (use ${match.method})`, { Allow: match.method });
    }
    if (match.method === 'GET') {
      req.resume();
      return this.dispatch(match.route, req, res, receivedUs, 'identity');
    }
    // Bodies in gzip or deflate are inflated as they are read, under the body limit (readBody); other codings are
    // refused before anything is read: 415 with the codings read here (Triton answers them 501, meaning 415).
    const coding = requestCoding(req.headers['content-encoding']);
    if (coding === undefined) {
      req.resume();
      return sendHttpError(res, 415, `unsupported Content-Encoding '${String(req.headers['content-encoding'])}' ` +
        `(supported: ${ACCEPTED_CODINGS}, identity)`, { 'Accept-Encoding': ACCEPTED_CODINGS });
    }
    await this.dispatch(match.route, req, res, receivedUs, coding);
  }

  private async dispatch(route: Route, req: IncomingMessage, res: ServerResponse, receivedUs: number, coding: ContentCoding): Promise<void> {
    const s = this.service;
    switch (route.kind) {
      case 'live':
        if (await s.isLive()) return sendEmpty(res, 200);
        return sendError(res, new InferenceError('UNAVAILABLE', 'server is not live'));
      case 'ready':
        if (await s.isReady()) return sendEmpty(res, 200);
        return sendError(res, new InferenceError('UNAVAILABLE', 'server is not ready'));
      case 'server-metadata':
        return sendJson(res, 200, await s.serverMetadata());
      case 'model-metadata':
        return sendJson(res, 200, await s.modelMetadata(route.model, route.version));
      case 'model-config':
        return sendJson(res, 200, await s.modelConfig(route.model, route.version));
      case 'model-ready': {
        if (await s.isModelReady(route.model, route.version)) return sendEmpty(res, 200);
        await s.modelMetadata(route.model, route.version); // throws NOT_FOUND for unknown models/versions
        const v = route.version === undefined ? '' : ` version ${route.version}`;
        return sendError(res, new InferenceError('UNAVAILABLE', `model '${route.model}'${v} is not ready`));
      }
      case 'model-stats':
        return sendJson(res, 200, await s.modelStatistics(route.model, route.version));
      case 'repository-index': {
        const body = await readBody(req, this.service.limits.maxBodyBytes, 0, coding);
        let readyOnly = false;
        if (body.length > 0) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
          } catch (err) {
            throw invalidArgument(`malformed request JSON: ${(err as Error).message}`);
          }
          readyOnly = typeof parsed === 'object' && parsed !== null && (parsed as { ready?: unknown }).ready === true;
        }
        return sendJson(res, 200, await s.repositoryIndex({ readyOnly }));
      }
      case 'repository-load':
        await readBody(req, this.service.limits.maxBodyBytes, 0, coding);
        await s.loadModel(route.model, req.headers.authorization);
        return sendEmpty(res, 200);
      case 'repository-unload':
        await readBody(req, this.service.limits.maxBodyBytes, 0, coding);
        await s.unloadModel(route.model, req.headers.authorization);
        return sendEmpty(res, 200);
      case 'infer':
        return this.infer(route.model, route.version, req, res, receivedUs, coding);
      case 'generate':
        return this.generate(route.model, route.version, route.stream, req, res, receivedUs, coding);
    }
  }

  /**
   * Triton's generate extension (generate.ts, docs/streaming.md). `generate`: the request's one response as a JSON
   * object (a model that answers zero or several times is refused, stopped at its second response).
   * `generate_stream`: Server-Sent Events, `data: {json}` per response as it comes; a failure before the first is
   * the usual JSON error with its status, one after it an event `data: {"error": "..."}` that ends the stream. The
   * client going away (the connection closes) stops the model between responses.
   */
  private async generate(model: string, version: string | undefined, stream: boolean, req: IncomingMessage, res: ServerResponse,
    receivedUs: number, coding: ContentCoding): Promise<void> {
    const gone = new CancelSource();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const s = this.service;
    const declared = Number(req.headers['content-length'] ?? 0) || 0;
    const refusal = this.refusalBeforeBody(model, version, receivedUs, declared);
    if (refusal) {
      req.resume();
      throw refusal;
    }
    this.heldBytes += declared;
    try {
      await this.generateHeld(model, version, stream, req, res, receivedUs, coding, gone);
    } finally {
      this.heldBytes -= declared;
    }
  }

  /** generate, its body's bytes counted as held (until its last response). */
  private async generateHeld(model: string, version: string | undefined, stream: boolean, req: IncomingMessage, res: ServerResponse,
    receivedUs: number, coding: ContentCoding, gone: CancelSource): Promise<void> {
    const s = this.service;
    const body = await readBody(req, s.limits.maxBodyBytes, 0, coding);
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
    } catch (err) {
      throw invalidArgument(`malformed request JSON: ${(err as Error).message}`);
    }
    const config = await s.modelConfig(model, version);
    const request = generateRequestOf(parsed, config, model, version, s.limits, gone, receivedUs);
    if (!stream) {
      const answers: InferenceResponse[] = [];
      try {
        await s.inferStream(request, (r) => {
          answers.push(r);
          if (answers.length === 2) gone.abort();
        });
      } catch (err) {
        if (answers.length < 2) throw err;
      }
      if (res.destroyed) return;
      if (answers.length !== 1) {
        throw new InferenceError('UNIMPLEMENTED', `model '${model}' answered ${answers.length === 0 ? 'with no response' : 'more than once'}: ` +
          'generate returns exactly one response (use generate_stream)');
      }
      return sendJson(res, 200, generateAnswerOf(answers[0]));
    }
    /** Writes one event; false when the socket's buffer is full (a client that does not read). */
    const event = (value: unknown): boolean => {
      if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
      return res.write(`data: ${JSON.stringify(value)}\n\n`);
    };
    let drained: Promise<void> | undefined;
    try {
      await s.inferStream(request, (r) => {
        if (res.destroyed || event(generateAnswerOf(r))) return undefined;
        // Flow control: the model waits until the client has read (or gone: the abort then stops the model).
        return (drained ??= new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            drained = undefined;
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        }));
      });
    } catch (err) {
      if (!res.headersSent) throw err;
      const e = toInferenceError(err);
      if (e.code === 'INTERNAL') this.log.error({ err: e, url: req.url }, 'generate_stream failed');
      if (!res.destroyed) event({ error: e.message });
    }
    if (res.destroyed) return;
    if (!res.headersSent) res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' });
    res.end();
  }

  private async infer(
    model: string, version: string | undefined, req: IncomingMessage, res: ServerResponse, receivedUs: number, coding: ContentCoding,
  ): Promise<void> {
    const gone = new CancelSource();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const hl = req.headers[HEADER_LENGTH];
    let headerLength: number | undefined;
    if (hl !== undefined) {
      headerLength = Number(hl);
      if (typeof hl !== 'string' || !/^\d+$/.test(hl) || !Number.isSafeInteger(headerLength)) {
        req.resume();
        throw invalidArgument(`Inference-Header-Content-Length '${String(hl)}' is not a byte count`);
      }
    }
    const s = this.service;
    // Refusals before the body is read: the server-wide bounds, and what would refuse even the model's most favoured
    // request (priority 1, no timeout). The body is then dropped unread and the connection kept. Held bytes count the
    // declared (on the wire, perhaps compressed) length.
    const declared = Number(req.headers['content-length'] ?? 0) || 0;
    const refusal = this.refusalBeforeBody(model, version, receivedUs, declared);
    if (refusal) {
      req.resume();
      throw refusal;
    }
    this.heldBytes += declared;
    try {
      const body = await readBody(req, s.limits.maxBodyBytes, headerLength ?? 0, coding);
      // Refusals before the tensors are decoded, now that the request's priority and timeout are known.
      const admit = (priority: number | undefined, timeoutUs: number | undefined) => {
        const r = s.admit({ model, version, priority, timeoutUs, receivedUs });
        if (r) throw r;
      };
      const { request, encoding } = decodeInferRequest(body, headerLength, model, version, s.limits, gone, receivedUs, admit);
      this.log.trace({ model, version, id: request.id, bytes: body.length }, 'infer request received');
      const response = await s.infer(request);
      if (gone.aborted) return;
      const accepted = responseCoding(req.headers['accept-encoding']);
      const enc = encodeInferResponse(response, encoding);
      if (accepted === 'identity' || enc.contentLength < MIN_COMPRESSED_BYTES) this.send(res, enc);
      else await this.sendCompressed(res, enc, accepted, gone);
    } finally {
      this.heldBytes -= declared;
    }
  }

  /**
   * What refuses a request before its body is read: the server-wide bounds, what would refuse even the model's most
   * favoured request (priority 1, no timeout), and the bytes of request bodies held (the declared length).
   */
  private refusalBeforeBody(model: string, version: string | undefined, receivedUs: number, declared: number): InferenceError | undefined {
    const s = this.service;
    const refusal = s.admit({ model, version, priority: 1, receivedUs });
    if (refusal) return refusal;
    if (this.heldBytes + declared > s.limits.maxInflightBytes && this.heldBytes > 0) {
      return new InferenceError('UNAVAILABLE', `the server holds ${this.heldBytes} bytes of requests (--max-inflight-bytes ` +
        `${s.limits.maxInflightBytes})`, { retryAfterSec: 1 });
    }
    return undefined;
  }

  private send(res: ServerResponse, enc: EncodedResponse): void {
    const headers: Record<string, string | number> = { 'Content-Type': enc.contentType, 'Content-Length': enc.contentLength };
    if (enc.headerLength !== undefined) headers['Inference-Header-Content-Length'] = enc.headerLength;
    res.writeHead(200, headers);
    if (enc.parts.length === 1) {
      res.end(enc.parts[0]);
      return;
    }
    res.cork();
    for (const p of enc.parts) res.write(p);
    res.end();
    res.uncork();
  }

  /**
   * The response compressed as the client's Accept-Encoding prefers (as Triton does for infer responses): one body,
   * compressed off the event loop; Inference-Header-Content-Length still counts the uncompressed JSON header.
   */
  private async sendCompressed(res: ServerResponse, enc: EncodedResponse, coding: 'gzip' | 'deflate', gone: CancelSource): Promise<void> {
    const body = await compress(enc.parts.length === 1 ? enc.parts[0] : Buffer.concat(enc.parts), coding);
    if (gone.aborted) return;
    const headers: Record<string, string | number> = {
      'Content-Type': enc.contentType, 'Content-Length': body.length, 'Content-Encoding': coding, Vary: 'Accept-Encoding',
    };
    if (enc.headerLength !== undefined) headers['Inference-Header-Content-Length'] = enc.headerLength;
    res.writeHead(200, headers);
    res.end(body);
  }

  /** Stops accepting connections, lets in-flight requests finish (up to the grace period), closes the rest. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.loopDelay.stop();
      const closed = new Promise<void>((r) => this.server.close(() => r()));
      this.server.closeIdleConnections();
      const drained = this.inFlight === 0 ? Promise.resolve() : new Promise<void>((r) => { this.idleWaiter = r; });
      const timer = setTimeout(() => this.server.closeAllConnections(), this.grace);
      timer.unref();
      void drained.then(() => {
        this.server.closeIdleConnections();
        return closed;
      }).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return this.closing;
  }
}
