/**
 * `autoglm inspect MODEL.onnx [--json]`: the model's signature, operators, parameters and MAC estimate, and the
 * config `autoglm serve` would derive for it. Exit codes: 0 printed, 1 unreadable model, 2 bad arguments.
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { modelInfo, readOnnxModelHeaders, type OnnxModelInfo } from '../onnx-proto/index.js';
import { summarize, type ModelSummary } from '../optimize/inspect-model.js';
import { autoComplete } from '../repository/auto-complete.js';
import { emptyConfig } from '../repository/config-from-pbtxt.js';
import { DEFAULT_MAX_BATCH_SIZE } from '../repository/defaults.js';

export interface CommandIo {
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
}

export const INSPECT_USAGE = `Usage: autoglm inspect MODEL.onnx [--json]

Prints opset and IR version, inputs/outputs (dynamic dimensions marked), the operator histogram, parameters by
element type, MACs for the common ops, nodes constant folding would remove, and the config \`autoglm serve\` derives.
`;

export async function runInspectCommand(argv: string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
    if (!parsed.values.help && parsed.positionals.length !== 1) throw new Error(`expects one model file, got ${parsed.positionals.length}`);
  } catch (err) {
    io.err(`autoglm inspect: ${(err as Error).message}\n\n${INSPECT_USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    io.out(INSPECT_USAGE);
    return 0;
  }
  const file = parsed.positionals[0];
  try {
    // Structure only: initializers' payloads stay on disk, so any size of model is inspected in little memory.
    const model = await readOnnxModelHeaders(file);
    const size = statSync(file).size;
    const summary = summarize(model);
    const config = derivedConfig(modelInfo(model), file);
    io.out(parsed.values.json ? JSON.stringify({ file, bytes: size, ...summary, servedConfig: config }, null, 2) + '\n' : formatSummary(file, size, summary, config));
    return 0;
  } catch (err) {
    io.err(`autoglm inspect: ${file}: ${(err as Error).message}\n`);
    return 1;
  }
}

/** What `autoglm serve` would fill in for this model with no config.pbtxt, or why it could not. */
function derivedConfig(info: OnnxModelInfo, file: string): object | string {
  const parsed = emptyConfig(file);
  try {
    autoComplete(parsed.config, info, file, { maxBatchSizeWritten: false, defaultMaxBatchSize: DEFAULT_MAX_BATCH_SIZE });
  } catch (err) {
    return (err as Error).message;
  }
  const { max_batch_size, input, output } = parsed.config;
  return { max_batch_size, input, output };
}

const shape = (s: readonly (number | string)[] | null) => (s ? `[${s.join(', ')}]` : 'unknown rank');
const count = (n: number) => n.toLocaleString('en-US');

function formatSummary(file: string, size: number, s: ModelSummary, config: object | string): string {
  const l: string[] = [];
  l.push(`${file}: ${(size / (1 << 20)).toFixed(2)} MiB, IR version ${s.irVersion}, opsets ${s.opsets.map((o) => `${o.domain || 'ai.onnx'} ${o.version}`).join(', ')}${s.producer ? `, produced by ${s.producer}` : ''}`);
  l.push('', 'inputs:');
  for (const v of s.inputs) l.push(`  ${v.name}: ${v.type} ${shape(v.shape)}${v.dynamic.length ? ` (dynamic: axis ${v.dynamic.join(', ')})` : ''}`);
  l.push('outputs:');
  for (const v of s.outputs) l.push(`  ${v.name}: ${v.type} ${shape(v.shape)}${v.dynamic.length ? ` (dynamic: axis ${v.dynamic.join(', ')})` : ''}`);
  l.push('', `operators (${s.nodes} nodes): ${s.ops.map((o) => `${o.op} ${o.count}`).join(', ')}`);
  l.push('', 'parameters:');
  for (const p of s.params) l.push(`  ${p.elemType}: ${count(p.elements)} in ${p.tensors} tensors, ${count(p.bytes)} bytes`);
  if (s.externalInitializers) l.push(`  ${s.externalInitializers} tensors in external data (not read)`);
  l.push('', 'MACs:');
  l.push(`  MatMul/Gemm with constant weights: ${count(s.macs.matmulPerRow)} per row`);
  l.push(`  Conv: ${count(s.macs.convPerPosition)} per output position (× H·W of each conv's output)`);
  if (s.macs.activationMatMuls) l.push(`  ${s.macs.activationMatMuls} MatMul(s) between run-time values (attention-like; cost grows with sequence length)`);
  l.push('', s.foldable.length ? `constant-foldable nodes: ${s.foldable.map((f) => `${f.op} ${f.count}`).join(', ')}` : 'constant-foldable nodes: none');
  l.push('', 'config autoglm serve derives (no config.pbtxt):');
  l.push(typeof config === 'string' ? `  cannot serve without a config: ${config}` : JSON.stringify(config, null, 2).replace(/^/gm, '  '));
  return l.join('\n') + '\n';
}
