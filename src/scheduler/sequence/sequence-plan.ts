import {
  type DataType, type ModelConfig, type NumericArray, type SequenceControlKind, allocate, fromConfigName,
} from '../../core/index.js';
import type { Strategy } from './sequence-table.js';

/** One control input, compiled: what to write in each row. */
export interface ControlPlan {
  readonly name: string;
  readonly kind: SequenceControlKind;
  readonly datatype: DataType;
  /** START/END/READY: the values for false and true. */
  readonly falseTrue: readonly [number, number];
}

/** One implicit state tensor, compiled. */
export interface StatePlan {
  readonly inputName: string;
  readonly outputName: string;
  readonly datatype: DataType;
  readonly dims: readonly number[];
  /** Elements per sequence (product of dims). */
  readonly rowElements: number;
  /** The state of a new sequence (zeros; shared, never written). */
  readonly initial: NumericArray;
}

export interface SequencePlan {
  readonly controls: readonly ControlPlan[];
  readonly states: readonly StatePlan[];
  readonly strategy: Strategy;
  readonly slotsPerInstance: number;
  readonly maxIdleUs: number;
}

/** Compiles a validated config's sequence_batching (src/repository/validate-sequence.ts checked it). */
export function planSequence(config: Readonly<ModelConfig>): SequencePlan {
  const sb = config.sequence_batching;
  if (!sb) throw new Error(`model '${config.name}' has no sequence_batching`);
  const controls = sb.control_input.map((ci): ControlPlan => {
    const c = ci.control[0];
    if (c.kind === 'CONTROL_SEQUENCE_CORRID') {
      return { name: ci.name, kind: c.kind, datatype: fromConfigName(c.data_type)!, falseTrue: [0, 0] };
    }
    const [datatype, ft]: [DataType, number[]] = c.int32_false_true.length > 0 ? ['INT32', c.int32_false_true]
      : c.fp32_false_true.length > 0 ? ['FP32', c.fp32_false_true] : ['BOOL', c.bool_false_true.map(Number)];
    return { name: ci.name, kind: c.kind, datatype, falseTrue: [ft[0], ft[1]] };
  });
  const states = sb.state.map((st): StatePlan => {
    const datatype = fromConfigName(st.data_type)!;
    const rowElements = st.dims.reduce((a, b) => a * b, 1);
    return {
      inputName: st.input_name, outputName: st.output_name, datatype, dims: [...st.dims], rowElements,
      initial: allocate(datatype, rowElements),
    };
  });
  const strategy: Strategy = sb.oldest
    ? { kind: 'oldest', maxQueueDelayUs: sb.oldest.max_queue_delay_microseconds, preferredBatchSizes: sb.oldest.preferred_batch_size }
    : { kind: 'direct', maxQueueDelayUs: sb.direct?.max_queue_delay_microseconds ?? 0, minimumSlotUtilization: sb.direct?.minimum_slot_utilization ?? 0 };
  return {
    controls, states, strategy,
    slotsPerInstance: sb.oldest ? sb.oldest.max_candidate_sequences : config.max_batch_size,
    maxIdleUs: sb.max_sequence_idle_microseconds,
  };
}
