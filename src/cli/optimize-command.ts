/**
 * `autoglm optimize IN.onnx -o OUT.onnx`: graph passes, ONNX Runtime offline optimization, INT8/FP16; prints the
 * before/after table and refuses to write a model whose output error exceeds --max-error unless --force.
 * Exit codes: 0 written, 1 failed, 2 bad arguments, 3 refused (error over the limit).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { compareModels } from '../optimize/compare-models.js';
import { hostHasVnni } from '../optimize/cpu-features.js';
import { formatReport } from '../optimize/format-report.js';
import { DEFAULT_OPTIMIZE, PASS_NAMES, optimizeModel, type OptimizeOptions, type PassName } from '../optimize/optimize-model.js';
import { samplesFromDir } from '../optimize/sample-inputs.js';
import type { CommandIo } from './inspect-command.js';

export const OPTIMIZE_USAGE = `Usage: autoglm optimize IN.onnx -o OUT.onnx [options]

  -o, --output FILE          where the optimized model goes (required)
  --quantize MODE            none (default), int8 (dynamic: MatMul/Gemm weights), fp16 (GPU targets; I/O stays FLOAT)
  --passes LIST              our graph passes, comma-separated (default all: ${PASS_NAMES.join(',')}); "none" for none
  --ort-level LEVEL          ONNX Runtime offline optimization saved into the file: none, basic (default, portable),
                             extended or all (these tie the file to this ONNX Runtime's CPU provider)
  --per-channel MODE         int8 weight scales per output column: auto (default: where columns' ranges differ), on, off
  --reduce-range MODE        int8 7-bit weights for CPUs without VNNI (saturation): auto (default: on when this host
                             has no VNNI), on, off
  --fp16-keep OPS            op types kept FLOAT by fp16, comma-separated (replaces the default block list)
  --max-error X              refuse to write when any output's max relative error exceeds X (default: 1e-4 without
                             quantization, 0.05 int8, 0.01 fp16)
  --force                    write even when the error is over --max-error
  --samples DIR              real inputs: one KServe v2 JSON request body per .json file (default: random inputs)
  --dim NAME=N               size of a symbolic dimension (or INPUT:AXIS=N) for random inputs and timing (repeatable)
  --default-dim N            size of other dynamic dimensions except the batch (default 16)
  --threads N                ONNX Runtime intra-op threads for measuring (default 1)
  --max-batch N              largest batch measured, powers of two (default 64)
  --window-ms N              one timing window (default 300)
  --pairs N                  before/after window pairs per batch size (default 3)
  --no-measure               skip timing (sizes and output error only)
  --json                     print the report as JSON
`;

const DEFAULT_MAX_ERROR = { none: 1e-4, int8: 0.05, fp16: 0.01 } as const;

function choice<T extends string>(flag: string, v: string | undefined, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`${flag} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

function positive(flag: string, v: string | undefined, fallback: number, integer = true): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got '${v}'`);
  return n;
}

export async function runOptimizeCommand(argv: string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        output: { type: 'string', short: 'o' }, quantize: { type: 'string' }, passes: { type: 'string' },
        'ort-level': { type: 'string' }, 'per-channel': { type: 'string' }, 'reduce-range': { type: 'string' },
        'fp16-keep': { type: 'string' }, 'max-error': { type: 'string' }, force: { type: 'boolean' },
        samples: { type: 'string' }, dim: { type: 'string', multiple: true }, 'default-dim': { type: 'string' },
        threads: { type: 'string' }, 'max-batch': { type: 'string' }, 'window-ms': { type: 'string' },
        pairs: { type: 'string' }, 'no-measure': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.err(`autoglm optimize: ${(err as Error).message}\n\n${OPTIMIZE_USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (v.help) {
    io.out(OPTIMIZE_USAGE);
    return 0;
  }
  let options: OptimizeOptions;
  let input: string;
  let output: string;
  let maxError: number;
  let dims: Map<string, number>;
  try {
    if (positionals.length !== 1) throw new Error(`expects one input model, got ${positionals.length}`);
    [input] = positionals;
    if (!v.output) throw new Error('-o/--output is required');
    output = v.output;
    const quantize = choice('--quantize', v.quantize, ['none', 'int8', 'fp16'] as const, 'none');
    const passes = v.passes === undefined ? [...PASS_NAMES] : v.passes === 'none' ? [] : v.passes.split(',').map((p) => p.trim());
    for (const p of passes) if (!(PASS_NAMES as readonly string[]).includes(p)) throw new Error(`--passes: unknown pass '${p}' (known: ${PASS_NAMES.join(', ')})`);
    const perChannel = choice('--per-channel', v['per-channel'], ['auto', 'on', 'off'] as const, 'auto');
    const reduce = choice('--reduce-range', v['reduce-range'], ['auto', 'on', 'off'] as const, 'auto');
    options = {
      ...DEFAULT_OPTIMIZE,
      passes: passes as PassName[],
      ortLevel: choice('--ort-level', v['ort-level'], ['none', 'basic', 'extended', 'all'] as const, 'basic'),
      quantize,
      int8: {
        ...DEFAULT_OPTIMIZE.int8,
        perChannel: perChannel === 'auto' ? 'auto' : perChannel === 'on',
        reduceRange: reduce === 'auto' ? hostHasVnni() === false : reduce === 'on',
      },
      fp16Block: v['fp16-keep'] !== undefined ? v['fp16-keep'].split(',').map((s) => s.trim()).filter(Boolean) : DEFAULT_OPTIMIZE.fp16Block,
    };
    maxError = v['max-error'] === undefined ? DEFAULT_MAX_ERROR[quantize] : Number(v['max-error']);
    if (!Number.isFinite(maxError) || maxError < 0) throw new Error(`--max-error must be a number ≥ 0, got '${v['max-error']}'`);
    dims = new Map((v.dim ?? []).map((d) => {
      const m = /^(.+)=(\d+)$/.exec(d);
      if (!m || Number(m[2]) < 1) throw new Error(`--dim must be NAME=N with N ≥ 1, got '${d}'`);
      return [m[1], Number(m[2])];
    }));
  } catch (err) {
    io.err(`autoglm optimize: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const source = readFileSync(input);
    const result = await optimizeModel(source, options);
    const comparison = await compareModels(source, result.bytes, {
      threads: positive('--threads', v.threads, 1), maxBatch: positive('--max-batch', v['max-batch'], 64),
      windowMs: positive('--window-ms', v['window-ms'], 300), pairs: positive('--pairs', v.pairs, 3),
      shapes: { dims, defaultDim: positive('--default-dim', v['default-dim'], 16) },
      samples: v.samples ? samplesFromDir(v.samples) : undefined, timing: !v['no-measure'],
    });
    const worst = Math.max(0, ...comparison.errors.map((e) => e.maxRel));
    const refused = !(worst <= maxError) && !v.force;
    if (v.json) {
      io.out(JSON.stringify({
        input, output, written: !refused, sizeBefore: source.byteLength, sizeAfter: result.bytes.byteLength,
        nodesBefore: result.nodesBefore, nodesAfter: result.nodesAfter, passes: Object.fromEntries(result.passCounts),
        int8: result.int8, fp16: result.fp16, maxError, ...comparison,
      }, null, 2) + '\n');
    } else {
      io.out(formatReport(source.byteLength, result, comparison, maxError));
    }
    if (refused) {
      io.err(`autoglm optimize: not written: max relative error ${worst.toExponential(2)} exceeds --max-error ${maxError} (use --force to write it anyway)\n`);
      return 3;
    }
    writeFileSync(output, result.bytes);
    if (!v.json) io.out(`wrote ${output}\n`);
    return 0;
  } catch (err) {
    io.err(`autoglm optimize: ${(err as Error).message}\n`);
    return 1;
  }
}
