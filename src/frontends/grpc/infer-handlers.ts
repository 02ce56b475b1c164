/**
 * ModelInfer and ModelStreamInfer. A request's way: the call (grpc-call.ts) gathers the message → the scan
 * (scan-infer-request.ts) → its parameters are read (inferHeader) → admission (`service.admit`, before any tensor is
 * made: a refusal costs the scan) → the in-flight bytes bound → tensors decoded → `service.infer` → the reply: its
 * fields written into one pre-sized buffer, large numeric outputs sent as views of their storage (not copied).
 *
 * ModelStreamInfer answers each request of an ordinary model with one ModelStreamInferResponse, in the order the
 * requests came (requests run concurrently; a reply that is ready early waits for the earlier ones); a failed request
 * is answered with `error_message` (and the request's id) and the stream goes on, as Triton does. A request to a
 * decoupled model (docs/streaming.md) is answered zero or more times, each response written as it is produced
 * (responses of concurrent requests interleave; one request's stay in order), each with `triton_final_response`
 * false, then — when the request set `triton_enable_empty_final_response` — an empty response with it true.
 * ModelInfer refuses decoupled models (UNIMPLEMENTED, as Triton's "doesn't support models with decoupled transaction
 * policy").
 */
import type { Logger } from 'pino';
import { type CancelSignal, InferenceError, type InferenceRequest, type InferenceResponse } from '../../core/index.js';
import type { CallHandler, GrpcCall } from './grpc-call.js';
import { type GrpcService, failure } from './grpc-status.js';
import { inferHeader, inferRequestOf, type InferHeader } from './infer-request.js';
import { encodeInferResponseParts, encodeStreamError, encodeStreamResponse } from './infer-response.js';
import { WireError } from './protobuf-wire.js';
import { type ScannedInfer, scanInferRequest } from './scan-infer-request.js';

/** A request message scanned, or the reason it is not a valid message. */
function scan(bytes: Buffer, receivedUs: number): ScannedInfer | InferenceError {
  try {
    return scanInferRequest(bytes, receivedUs);
  } catch (err) {
    if (err instanceof WireError) return new InferenceError('INVALID_ARGUMENT', `malformed request message (not valid protobuf): ${err.message}`);
    throw err;
  }
}

/** Runs infer requests for both RPCs; owns the frontend's count of request bytes held. */
export class InferRunner {
  /** Bytes of request messages between their scan and their answer. */
  private heldBytes = 0;

  constructor(private readonly service: GrpcService, private readonly log: Logger) {}

  /** Admits, decodes and runs one request; rejects with an InferenceError (or a bug's error). */
  run(scanned: ScannedInfer, header: InferHeader, signal: CancelSignal): Promise<InferenceResponse> {
    return this.admitted(scanned, header, signal, (request) => this.service.infer(request));
  }

  /**
   * Admission, the in-flight bytes bound, decoding, then `go` with the request (its bytes count as held until `go`
   * settles: for a stream, its last response).
   */
  private async admitted<T>(scanned: ScannedInfer, header: InferHeader, signal: CancelSignal, go: (request: InferenceRequest) => Promise<T>): Promise<T> {
    const s = this.service;
    const refusal = s.admit({ model: header.model, version: header.version, priority: header.priority, timeoutUs: header.timeoutUs,
      receivedUs: scanned.receivedUs });
    if (refusal) throw refusal;
    const size = scanned.message.length;
    if (this.heldBytes > 0 && this.heldBytes + size > s.limits.maxInflightBytes) {
      throw new InferenceError('UNAVAILABLE', `the server holds ${this.heldBytes} bytes of requests (--max-inflight-bytes ` +
        `${s.limits.maxInflightBytes})`, { retryAfterSec: 1 });
    }
    this.heldBytes += size;
    try {
      const request = inferRequestOf(scanned, header, s.limits, signal);
      if (this.log.isLevelEnabled('trace')) this.log.trace({ model: request.model, version: request.version, id: request.id, bytes: size }, 'infer request received');
      return await go(request);
    } finally {
      this.heldBytes -= size;
    }
  }

  /** ModelInfer: one request message, one reply. */
  readonly modelInfer: CallHandler = {
    message: (call, bytes) => {
      if (call.messages > 1) {
        call.fail(new InferenceError('INVALID_ARGUMENT', 'ModelInfer takes one request message; a second arrived'));
        return;
      }
      const scanned = scan(bytes, call.receivedUs);
      if (scanned instanceof InferenceError) {
        call.fail(failure(this.log, 'ModelInfer', scanned));
        return;
      }
      void this.answer(call, scanned);
    },
    halfClose: (call) => {
      if (call.messages === 0) call.fail(new InferenceError('INVALID_ARGUMENT', 'ModelInfer: the call ended without a request message'));
    },
  };

  private async answer(call: GrpcCall, scanned: ScannedInfer): Promise<void> {
    try {
      const res = await this.run(scanned, inferHeader(scanned), call.cancel);
      if (!call.finished) call.replyParts(encodeInferResponseParts(res));
    } catch (err) {
      call.fail(failure(this.log, 'ModelInfer', err));
    }
  }

  /**
   * ModelStreamInfer: requests run concurrently; each gets one reply, written in the order the requests came (a
   * reply that is ready early waits for the earlier ones). The call ends once the client has half-closed and every
   * reply is written.
   */
  readonly modelStreamInfer: CallHandler = {
    message: (call, bytes) => {
      const q = (call.state ??= new ReplyQueue(call)) as ReplyQueue;
      const scanned = scan(bytes, performance.now() * 1000);
      let header: InferHeader | undefined;
      if (!(scanned instanceof InferenceError)) {
        try {
          header = inferHeader(scanned);
        } catch (err) {
          const slot = q.reserve();
          q.fill(slot, encodeStreamError(failure(this.log, 'ModelStreamInfer', err).message, scanned.id));
          return;
        }
      }
      if (header && !(scanned instanceof InferenceError) && this.isDecoupled(header)) {
        q.open();
        void this.streamDecoupled(scanned, header, call, q).finally(() => q.close());
        return;
      }
      const slot = q.reserve();
      void this.streamOne(scanned, header, call).then((reply) => q.fill(slot, reply));
    },
    halfClose: (call) => {
      const q = (call.state ??= new ReplyQueue(call)) as ReplyQueue;
      q.ended = true;
      q.flush();
    },
  };

  /** The request goes to a decoupled model (unknown models are not: the ordinary way answers them NOT_FOUND). */
  private isDecoupled(header: InferHeader): boolean {
    try {
      return this.service.modelConfig(header.model, header.version).model_transaction_policy?.decoupled === true;
    } catch {
      return false;
    }
  }

  /** One request of a stream to an ordinary model, answered with its response or its error; never rejects. */
  private async streamOne(scanned: ScannedInfer | InferenceError, header: InferHeader | undefined, call: GrpcCall): Promise<Buffer> {
    if (scanned instanceof InferenceError) return encodeStreamError(failure(this.log, 'ModelStreamInfer', scanned).message, '');
    try {
      const res = await this.run(scanned, header!, call.cancel);
      return encodeStreamResponse(res, header!.emptyFinalResponse ? true : undefined);
    } catch (err) {
      return encodeStreamError(failure(this.log, 'ModelStreamInfer', err).message, scanned.id);
    }
  }

  /**
   * One request of a stream to a decoupled model: each response written as it comes (triton_final_response false),
   * then the empty final response when asked, or the error (with the final flag, as Triton). While the stream's write
   * buffer is full the model is paused (ResponseSink flow control). Never rejects.
   */
  private async streamDecoupled(scanned: ScannedInfer, header: InferHeader, call: GrpcCall, q: ReplyQueue): Promise<void> {
    const head = { id: scanned.id, model: header.model, version: header.version ?? '', outputs: [] };
    let sentFinal = false;
    try {
      await this.admitted(scanned, header, call.cancel, (request) =>
        this.service.inferStream(request, (res, final) => {
          sentFinal ||= final;
          return q.send(encodeStreamResponse(res, final));
        }));
      // The empty final response (and an error below) are written without waiting: the request has ended. Only when the
      // end came without a response (a generator returning); a response sent as final already said it (as Triton).
      if (header.emptyFinalResponse && !sentFinal) q.send(encodeStreamResponse(head, true));
    } catch (err) {
      q.send(encodeStreamResponse(head, true, failure(this.log, 'ModelStreamInfer', err).message));
    }
  }
}

/**
 * Requests of one ModelStreamInfer call read and not yet answered onto the wire, at most: past it (or while written
 * replies wait in the stream's buffer for a client that does not read them) the stream stops reading requests, and
 * HTTP/2 flow control holds the client back. Bounds what one stream can make the server hold.
 */
export const MAX_STREAM_PENDING = 128;

/**
 * A stream's replies in request order: slots reserved as requests arrive, filled as they finish, written from the
 * front while the front is filled. Decoupled requests take no slot: their responses are written as they come. FIFO as array + head index (no shift()); the array restarts when it drains.
 * Backpressure: reading pauses while MAX_STREAM_PENDING replies are outstanding or the write buffer is full.
 */
class ReplyQueue {
  private slots: (Buffer | undefined)[] = [];
  private head = 0;
  /** Numbering of slots across restarts: slot n is slots[n - base]. */
  private base = 0;
  /** Reserved and not yet written. */
  private pending = 0;
  private paused = false;
  private awaitingDrain = false;
  /** Decoupled requests running: their responses are written as they come, outside the slots' order. */
  private open_ = 0;
  /** While the write buffer is full: settles when it drained (decoupled requests wait for it). */
  private drained: Promise<void> | undefined;
  ended = false;

  constructor(private readonly call: GrpcCall) {}

  reserve(): number {
    this.slots.push(undefined);
    if (++this.pending >= MAX_STREAM_PENDING) this.pause();
    return this.base + this.slots.length - 1;
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.call.pauseReading();
  }

  /** Reads again once under both bounds; a full write buffer is waited out first. */
  private maybeResume(): void {
    if (!this.paused || this.pending >= MAX_STREAM_PENDING) return;
    if (this.call.writeBlocked) {
      if (!this.awaitingDrain) {
        this.awaitingDrain = true;
        this.call.whenDrained(() => {
          this.awaitingDrain = false;
          this.maybeResume();
        });
      }
      return;
    }
    this.paused = false;
    this.call.resumeReading();
  }

  /** A decoupled request starts: it counts as pending until `close`. */
  open(): void {
    this.open_++;
    if (++this.pending >= MAX_STREAM_PENDING) this.pause();
  }

  /**
   * One response of a decoupled request, written now. When the stream's write buffer is full (a client that does not
   * read), a promise that settles once it drained: the request's producer waits for it (ResponseSink flow control).
   */
  send(reply: Buffer): Promise<void> | undefined {
    if (this.call.write(reply)) return undefined;
    this.pause();
    // One wait per full buffer, shared by the stream's requests (not one 'drain' listener each).
    return (this.drained ??= new Promise<void>((resolve) => this.call.whenDrained(() => {
      this.drained = undefined;
      resolve();
      // Reading paused above: it goes on now unless a bound still holds it (else only a request's end would resume it).
      this.maybeResume();
    })));
  }

  /** A decoupled request has written its last response. */
  close(): void {
    this.open_--;
    this.pending--;
    this.flush();
  }

  fill(slot: number, reply: Buffer): void {
    this.slots[slot - this.base] = reply;
    this.flush();
  }

  flush(): void {
    const slots = this.slots;
    while (this.head < slots.length && slots[this.head] !== undefined) {
      const reply = slots[this.head]!;
      slots[this.head++] = undefined;
      this.pending--;
      if (!this.call.write(reply)) this.pause();
    }
    this.maybeResume();
    if (this.head === slots.length) {
      this.base += slots.length;
      this.slots = [];
      this.head = 0;
      if (this.ended && this.open_ === 0) this.call.finish();
    }
  }
}
