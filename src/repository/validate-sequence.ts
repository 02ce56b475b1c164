/**
 * Validation of sequence_batching (Triton's sequence batcher): its strategy, control inputs and implicit state, and
 * their agreement with the model file. Every failure is a ConfigError at the config line at fault.
 */
import { fromConfigName, type ModelConfig } from '../core/index.js';
import type { OnnxModelInfo } from '../onnx-proto/index.js';
import { ConfigError } from './config-error.js';
import { onnxConfigType, onnxDims } from './auto-complete.js';
import type { SourceLines } from './pbtxt-schema.js';

const CORRID_TYPES = new Set(['TYPE_UINT64', 'TYPE_INT64', 'TYPE_UINT32', 'TYPE_INT32', 'TYPE_STRING']);

/** Model input names the sequence batcher feeds itself (control inputs and state inputs), not the client. */
export function sequenceInputNames(config: Readonly<ModelConfig>): Set<string> {
  const sb = config.sequence_batching;
  const names = new Set<string>();
  if (!sb) return names;
  for (const c of sb.control_input) names.add(c.name);
  for (const s of sb.state) names.add(s.input_name);
  return names;
}

export function validateSequenceBatching(config: ModelConfig, file: string, lines: SourceLines): void {
  const sb = config.sequence_batching;
  if (!sb) return;
  const top = (what: string, o?: object): never => {
    throw new ConfigError(file, (o && lines.lineOf(o)) || lines.lineOf(sb) || lines.lineOf(config, 'sequence_batching'), what);
  };
  if (config.max_batch_size < 1) top('sequence_batching here needs max_batch_size >= 1 (the batch dimension holds one row per sequence)');
  const taken = new Map<string, string>();
  for (const t of config.input) taken.set(t.name, 'an input of the config');
  const claim = (name: string, what: string, o: object) => {
    if (name === '') top(`${what} has no name`, o);
    const prior = taken.get(name);
    if (prior) top(`${what} '${name}' is also ${prior}: the sequence batcher feeds it, clients do not`, o);
    taken.set(name, what);
  };
  for (const ci of sb.control_input) {
    claim(ci.name, 'control input', ci);
    if (ci.control.length !== 1) top(`control input '${ci.name}' must carry exactly one control (has ${ci.control.length})`, ci);
    const c = ci.control[0];
    if (c.kind === 'CONTROL_SEQUENCE_CORRID') {
      if (!CORRID_TYPES.has(c.data_type)) top(`control input '${ci.name}': CONTROL_SEQUENCE_CORRID needs data_type one of ${[...CORRID_TYPES].join(', ')}`, ci);
      continue;
    }
    const given = [c.int32_false_true, c.fp32_false_true, c.bool_false_true].filter((v) => v.length > 0);
    if (given.length !== 1 || given[0].length !== 2) {
      top(`control input '${ci.name}': ${c.kind} needs exactly one of int32_false_true, fp32_false_true, bool_false_true with two values (false, true)`, ci);
    }
  }
  const outputs = new Set(config.output.map((o) => o.name));
  for (const st of sb.state) {
    claim(st.input_name, 'state input', st);
    if (st.output_name === '') top(`state '${st.input_name}' has no output_name`, st);
    if (outputs.has(st.output_name)) top(`state output '${st.output_name}' is also an output of the config: the server keeps it, clients do not see it`, st);
    const dt = fromConfigName(st.data_type);
    if (!dt || dt === 'BYTES') top(`state '${st.input_name}': data_type ${st.data_type} is not supported (a numeric type)`, st);
    if (st.dims.length === 0 || st.dims.some((d) => d < 1)) top(`state '${st.input_name}': dims [${st.dims.join(', ')}] must be fixed sizes >= 1`, st);
    if (st.initial_state.length > 1) top(`state '${st.input_name}': at most one initial_state`, st);
    for (const is of st.initial_state) {
      if (!is.zero_data) top(`state '${st.input_name}': initial_state needs zero_data: true`, st);
      if (is.data_type !== st.data_type || is.dims.join() !== st.dims.join()) {
        top(`state '${st.input_name}': initial_state must have the state's data_type and dims`, st);
      }
    }
  }
  if (sb.oldest) {
    const o = sb.oldest;
    if (o.max_candidate_sequences < 1) top('oldest: max_candidate_sequences must be >= 1');
    for (const p of o.preferred_batch_size) {
      if (p < 1 || p > config.max_batch_size) top(`oldest: preferred_batch_size ${p} must be in 1..max_batch_size (${config.max_batch_size})`);
    }
  }
  if (sb.direct) {
    const u = sb.direct.minimum_slot_utilization;
    if (!(u >= 0 && u <= 1)) top(`direct: minimum_slot_utilization must be in 0..1 (got ${u})`);
  }
}

/** The control and state tensors exist in the model file with the config's datatypes (and, for state, dims). */
export function validateSequenceAgainstModel(config: ModelConfig, info: OnnxModelInfo, modelFile: string, configFile: string, lines: SourceLines): void {
  const sb = config.sequence_batching;
  if (!sb) return;
  const find = (side: OnnxModelInfo['inputs'], name: string, what: string, o: object) => {
    const v = side.find((m) => m.name === name);
    if (!v) throw new ConfigError(configFile, lines.lineOf(o), `${what} '${name}' is not in the model file ${modelFile}`);
    return v;
  };
  for (const ci of sb.control_input) {
    const v = find(info.inputs, ci.name, 'control input', ci);
    const c = ci.control[0];
    const want = c.kind === 'CONTROL_SEQUENCE_CORRID' ? c.data_type
      : c.int32_false_true.length > 0 ? 'TYPE_INT32' : c.fp32_false_true.length > 0 ? 'TYPE_FP32' : 'TYPE_BOOL';
    const got = onnxConfigType(v);
    if (got !== want) throw new ConfigError(configFile, lines.lineOf(ci), `control input '${ci.name}' is ${want} by the config but ${got} in the model file ${modelFile}`);
  }
  for (const st of sb.state) {
    for (const [side, name] of [[info.inputs, st.input_name], [info.outputs, st.output_name]] as const) {
      const v = find(side, name, 'state tensor', st);
      const got = onnxConfigType(v);
      if (got !== st.data_type) throw new ConfigError(configFile, lines.lineOf(st), `state tensor '${name}' is ${st.data_type} by the config but ${got} in the model file ${modelFile}`);
      const md = onnxDims(v);
      if (md && (md.length !== st.dims.length + 1 || md.slice(1).some((d, i) => d !== -1 && d !== st.dims[i]))) {
        throw new ConfigError(configFile, lines.lineOf(st), `state tensor '${name}': dims [-1, ${st.dims.join(', ')}] do not match the model's [${md.join(', ')}] (${modelFile})`);
      }
    }
  }
}
