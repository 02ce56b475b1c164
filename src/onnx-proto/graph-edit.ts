import { ProtoWriter, readFields, utf8 } from './protobuf.js';
import { type OnnxNodeSpec, type OnnxTensorValue, type OnnxValueSpec, nodeProto, tensorProto, valueInfo } from './writer.js';

/**
 * Changes to an existing model's graph, made on its protobuf bytes (the weights are copied through, never decoded):
 * enough to adapt a published model to the server's conventions — e.g. a state tensor whose batch axis is not first,
 * or a constant input (sample rate) the client should not send.
 */
export interface GraphEdit {
  /** Graph inputs to drop (something else must now produce them: a prepended node or an added initializer). */
  readonly removeInputs?: readonly string[];
  readonly addInputs?: readonly OnnxValueSpec[];
  /** Graph outputs to drop (they stay computed inside the graph). */
  readonly removeOutputs?: readonly string[];
  readonly addOutputs?: readonly OnnxValueSpec[];
  readonly addInitializers?: readonly OnnxTensorValue[];
  /** Nodes that run before the model's own (they may produce removed inputs). */
  readonly prependNodes?: readonly OnnxNodeSpec[];
  /** Nodes that run after (they may read any value of the graph). */
  readonly appendNodes?: readonly OnnxNodeSpec[];
}

const GRAPH = 7;
const G_NODE = 1;
const G_INITIALIZER = 5;
const G_INPUT = 11;
const G_OUTPUT = 12;

/** The name (field 1) of a ValueInfoProto. */
function valueName(bytes: Uint8Array): string {
  for (const f of readFields(bytes)) if (f.field === 1 && f.wire === 2) return utf8(f.bytes);
  return '';
}

function copyField(w: ProtoWriter, f: { field: number; wire: number; int: bigint; bytes: Uint8Array }): void {
  if (f.wire === 2) w.bytes(f.field, f.bytes);
  else if (f.wire === 0) w.int(f.field, f.int);
  else throw new Error(`graph edit: fixed-width field ${f.field} is not expected in ModelProto/GraphProto`);
}

/** Returns new model bytes with `edit` applied. Throws when a name to remove is not there. */
export function editOnnxModel(model: Uint8Array, edit: GraphEdit): Uint8Array {
  const out = new ProtoWriter();
  let sawGraph = false;
  for (const f of readFields(model)) {
    if (f.field === GRAPH && f.wire === 2) {
      out.message(GRAPH, editGraph(f.bytes, edit));
      sawGraph = true;
    } else {
      copyField(out, f);
    }
  }
  if (!sawGraph) throw new Error('graph edit: not an ONNX model (no graph)');
  return out.finish();
}

function editGraph(graph: Uint8Array, edit: GraphEdit): ProtoWriter {
  const dropIn = new Set(edit.removeInputs ?? []);
  const dropOut = new Set(edit.removeOutputs ?? []);
  const g = new ProtoWriter();
  // Nodes must be in topological order: the prepended ones first, the model's, then the appended ones.
  (edit.prependNodes ?? []).forEach((n, i) => g.message(G_NODE, nodeProto(n, `edit_pre_${i}`)));
  const fields = [...readFields(graph)];
  for (const f of fields) if (f.field === G_NODE) copyField(g, f);
  (edit.appendNodes ?? []).forEach((n, i) => g.message(G_NODE, nodeProto(n, `edit_post_${i}`)));
  for (const f of fields) {
    if (f.field === G_NODE) continue;
    if (f.field === G_INPUT && dropIn.delete(valueName(f.bytes))) continue;
    if (f.field === G_OUTPUT && dropOut.delete(valueName(f.bytes))) continue;
    copyField(g, f);
  }
  if (dropIn.size > 0 || dropOut.size > 0) throw new Error(`graph edit: no such graph input/output: ${[...dropIn, ...dropOut].join(', ')}`);
  for (const t of edit.addInitializers ?? []) g.message(G_INITIALIZER, tensorProto(t));
  for (const v of edit.addInputs ?? []) g.message(G_INPUT, valueInfo(v));
  for (const v of edit.addOutputs ?? []) g.message(G_OUTPUT, valueInfo(v));
  return g;
}
