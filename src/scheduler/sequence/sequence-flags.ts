import { type InferenceRequest, type ParameterValue, invalidArgument } from '../../core/index.js';

/**
 * A request's place in its sequence, from the request parameters Triton defines: `sequence_id` (an unsigned integer,
 * or a string), `sequence_start`, `sequence_end` (booleans). HTTP sends them in the JSON `parameters`; gRPC as typed
 * InferParameters (the frontend checks their types and passes them on as plain values).
 */
export interface SequenceFlags {
  /** The id as the client sent it (numbers and strings are different ids, as in Triton). */
  readonly id: number | string;
  /** Map key: the id with its kind, so that 7 and "7" differ. */
  readonly key: string;
  readonly start: boolean;
  readonly end: boolean;
}

/** Is this sequence_id value "no sequence" (absent, 0 or "")? */
export function isNoSequence(v: ParameterValue | undefined): boolean {
  return v === undefined || v === 0 || v === '' || v === '0';
}

function flag(v: ParameterValue | undefined, key: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw invalidArgument(`parameter '${key}' must be a boolean (got ${JSON.stringify(v)})`);
  return v;
}

/** The request's sequence flags; INVALID_ARGUMENT when it names no sequence or a parameter has the wrong type. */
export function sequenceFlagsOf(request: InferenceRequest): SequenceFlags {
  const p = request.parameters;
  const id = p?.sequence_id;
  if (isNoSequence(id)) {
    throw invalidArgument(`inference request to model '${request.model}' must specify a non-zero or non-empty sequence_id (the model keeps state per sequence)`);
  }
  if (typeof id === 'number') {
    if (!Number.isSafeInteger(id) || id < 0) throw invalidArgument(`sequence_id ${id} must be an unsigned integer or a string`);
  } else if (typeof id !== 'string') {
    throw invalidArgument(`sequence_id must be an unsigned integer or a string (got ${JSON.stringify(id)})`);
  }
  return {
    id: id as number | string,
    key: typeof id === 'number' ? `n${id}` : `s${id}`,
    start: flag(p?.sequence_start, 'sequence_start'),
    end: flag(p?.sequence_end, 'sequence_end'),
  };
}

/** How a sequence id is shown in messages: numbers bare, strings quoted. */
export function showSequence(id: number | string): string {
  return typeof id === 'number' ? String(id) : JSON.stringify(id);
}
