import { type NumericArray, type Tensor, internal } from '../../core/index.js';
import type { BatchBufferPool } from '../batch-assembly.js';
import type { SequenceFlags } from './sequence-flags.js';
import type { ControlPlan, StatePlan } from './sequence-plan.js';

/** A sequence's implicit state: one row per state tensor, each a view (of the initial state or of a batch output). */
export type StateRows = NumericArray[];

const encoder = new TextEncoder();

/**
 * The control tensors of a batch, [rows, 1] each, in the instance's pooled buffers: START/END as each request's
 * flags, READY true on every row (a batch here holds only sequences with a request ready), CORRID each id.
 */
export function controlTensors(controls: readonly ControlPlan[], flags: readonly SequenceFlags[], pool: BatchBufferPool): Tensor[] {
  const rows = flags.length;
  return controls.map((c): Tensor => {
    const shape = [rows, 1];
    if (c.kind === 'CONTROL_SEQUENCE_CORRID') {
      if (c.datatype === 'BYTES') return { name: c.name, datatype: c.datatype, shape, data: flags.map((f) => encoder.encode(String(f.id))) };
      const data = pool.view(c.name, c.datatype, rows);
      for (let r = 0; r < rows; r++) {
        const id = flags[r].id;
        if (typeof id !== 'number') throw internal(`sequence_id ${JSON.stringify(id)} is a string but the model's CORRID input '${c.name}' is ${c.datatype}`);
        if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[r] = BigInt(id);
        else data[r] = id;
      }
      return { name: c.name, datatype: c.datatype, shape, data };
    }
    const data = pool.view(c.name, c.datatype, rows) as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
    const [no, yes] = c.falseTrue;
    for (let r = 0; r < rows; r++) {
      const on = c.kind === 'CONTROL_SEQUENCE_READY' || (c.kind === 'CONTROL_SEQUENCE_START' ? flags[r].start : flags[r].end);
      data[r] = on ? yes : no;
    }
    return { name: c.name, datatype: c.datatype, shape, data };
  });
}

/**
 * The state inputs of a batch: row r is sequence r's state (the initial state where its request starts the sequence).
 * When the rows are already adjacent in one buffer, in order — the same sequences as the previous batch, whose output
 * they are views of — that buffer is passed as it is: no copy. Otherwise they are gathered into the pooled buffer.
 */
export function stateTensors(states: readonly StatePlan[], rows: readonly StateRows[], flags: readonly SequenceFlags[], pool: BatchBufferPool): Tensor[] {
  const n = rows.length;
  return states.map((st, j): Tensor => {
    const shape = [n, ...st.dims];
    const pick = (r: number): NumericArray => (flags[r].start ? st.initial : rows[r][j]);
    const first = pick(0);
    let adjacent = true;
    for (let r = 1; r < n && adjacent; r++) {
      const v = pick(r);
      adjacent = v.buffer === first.buffer && v.byteOffset === first.byteOffset + r * first.byteLength;
    }
    if (adjacent) {
      const data = n === 1 ? first : new (first.constructor as new (b: ArrayBufferLike, o: number, l: number) => NumericArray)(first.buffer, first.byteOffset, n * st.rowElements);
      return { name: st.inputName, datatype: st.datatype, shape, data };
    }
    const data = pool.view(st.inputName, st.datatype, n * st.rowElements);
    for (let r = 0; r < n; r++) (data as Float32Array).set(pick(r) as Float32Array, r * st.rowElements);
    return { name: st.inputName, datatype: st.datatype, shape, data };
  });
}

/** After a batch: each sequence's state becomes a view of its row of the state outputs (no copy). */
export function keepStates(states: readonly StatePlan[], outputs: readonly Tensor[], into: readonly StateRows[]): void {
  states.forEach((st, j) => {
    const out = outputs[j];
    const data = out.data as NumericArray;
    if (data.length !== into.length * st.rowElements) {
      throw internal(`state output '${st.outputName}' has ${data.length} elements for ${into.length} sequences of ${st.rowElements}`);
    }
    for (let r = 0; r < into.length; r++) into[r][j] = data.subarray(r * st.rowElements, (r + 1) * st.rowElements);
  });
}
