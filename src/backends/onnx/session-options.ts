/**
 * ONNX Runtime session options from a model's config, decided once per instance at load.
 *
 * `parameters` keys read by this backend (values are strings, as Triton's `string_value`):
 *   intra_op_thread_count     threads inside one operator; default: InstanceSpec.threads (the server's share)
 *   inter_op_thread_count     threads across operators (used in parallel mode); default: ORT's
 *   execution_mode            `sequential` | `parallel` (also Triton's `0` | `1`); default sequential
 *   graph_optimization_level  `disabled` | `basic` | `extended` | `all`; wins over optimization.graph.level
 *   enable_mem_pattern        `true` | `false`; default ORT's (true)
 *   enable_cpu_mem_arena      `true` | `false`; default ORT's (true)
 *   intra_op_thread_affinities ORT's session.intra_op_thread_affinities: the CPUs of each pool thread but the
 *                             caller's, `;`-separated (e.g. `4;5;6-7`); default: not pinned
 * Other keys are left alone (parameters are shared with the rest of the server); a bad value of a key above is
 * an error naming the key.
 *
 * `optimization.graph.level` follows Triton's onnxruntime backend: -1 basic, 1 extended, 2 disabled, else all.
 * Execution providers: KIND_CPU → CPU. KIND_GPU → CUDA on `InstanceSpec.gpu`; with
 * `optimization.execution_accelerators.gpu_execution_accelerator [{ name: "tensorrt" }]` → TensorRT first, CUDA
 * as its fallback (ORT's CPU provider always takes the nodes neither supports).
 */
import type { InferenceSession } from 'onnxruntime-node';
import type { InstanceSpec } from '../backend.js';

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** What the worker passes to `InferenceSession.create`: plain data, so it crosses `workerData` as it is. */
export type SessionOptions = InferenceSession.SessionOptions;

/** Names of the execution providers an instance asks for, first preferred. */
export type ProviderName = 'cpu' | 'cuda' | 'tensorrt';

export interface SessionPlan {
  readonly options: SessionOptions;
  readonly providers: readonly ProviderName[];
}

class SessionOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionOptionError';
  }
}

function positiveInt(key: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new SessionOptionError(`parameter ${key} must be a positive integer, got '${v}'`);
  }
  return n;
}

function bool(key: string, v: string): boolean {
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw new SessionOptionError(`parameter ${key} must be true or false, got '${v}'`);
}

const EXECUTION_MODES: Record<string, 'sequential' | 'parallel'> = {
  sequential: 'sequential', parallel: 'parallel', '0': 'sequential', '1': 'parallel',
};

const LEVELS: readonly GraphOptimizationLevel[] = ['disabled', 'basic', 'extended', 'all'];

/** Triton's `optimization { graph { level } }` numbers. */
function levelFromTriton(level: number): GraphOptimizationLevel {
  if (level === -1) return 'basic';
  if (level === 1) return 'extended';
  if (level === 2) return 'disabled';
  return 'all';
}

function providersFor(spec: InstanceSpec): ProviderName[] {
  if (spec.kind !== 'KIND_GPU') return ['cpu'];
  const accelerators = spec.config.optimization?.execution_accelerators?.gpu_execution_accelerator ?? [];
  const names = accelerators.map((a) => a.name.toLowerCase());
  for (const n of names) {
    if (n !== 'tensorrt' && n !== 'cuda') {
      throw new SessionOptionError(`unsupported gpu_execution_accelerator '${n}' (supported: tensorrt)`);
    }
  }
  return names.includes('tensorrt') ? ['tensorrt', 'cuda'] : ['cuda'];
}

/** Validates the config's options for one instance and returns what its session is created with. */
export function sessionPlanFor(spec: InstanceSpec): SessionPlan {
  const p = (key: string): string | undefined => spec.config.parameters?.[key]?.string_value;
  const cpuAccels = spec.config.optimization?.execution_accelerators?.cpu_execution_accelerator ?? [];
  if (cpuAccels.length > 0) {
    throw new SessionOptionError(`unsupported cpu_execution_accelerator '${cpuAccels[0].name}' (none are supported)`);
  }

  const options: { -readonly [K in keyof SessionOptions]: SessionOptions[K] } = {
    intraOpNumThreads: Math.max(1, spec.threads),
    // Warnings (e.g. unused initializers) would print once per instance; errors still reach stderr.
    logSeverityLevel: 3,
  };
  const intra = p('intra_op_thread_count');
  if (intra !== undefined) options.intraOpNumThreads = positiveInt('intra_op_thread_count', intra);
  const inter = p('inter_op_thread_count');
  if (inter !== undefined) options.interOpNumThreads = positiveInt('inter_op_thread_count', inter);
  const mode = p('execution_mode');
  if (mode !== undefined) {
    const m = EXECUTION_MODES[mode.trim().toLowerCase()];
    if (!m) throw new SessionOptionError(`parameter execution_mode must be sequential or parallel, got '${mode}'`);
    options.executionMode = m;
  }
  const level = p('graph_optimization_level');
  if (level !== undefined) {
    const l = level.trim().toLowerCase() as GraphOptimizationLevel;
    if (!LEVELS.includes(l)) {
      throw new SessionOptionError(`parameter graph_optimization_level must be one of ${LEVELS.join(', ')}, got '${level}'`);
    }
    options.graphOptimizationLevel = l;
  } else if (spec.config.optimization?.graph !== undefined) {
    options.graphOptimizationLevel = levelFromTriton(spec.config.optimization.graph.level);
  }
  const memPattern = p('enable_mem_pattern');
  if (memPattern !== undefined) options.enableMemPattern = bool('enable_mem_pattern', memPattern);
  const arena = p('enable_cpu_mem_arena');
  if (arena !== undefined) options.enableCpuMemArena = bool('enable_cpu_mem_arena', arena);
  const affinities = p('intra_op_thread_affinities');
  if (affinities !== undefined) {
    if (!/^[\d,;\-]+$/.test(affinities)) {
      throw new SessionOptionError(`parameter intra_op_thread_affinities must be ORT's 'cpus;cpus;…' list (e.g. '1;2;3-4'), got '${affinities}'`);
    }
    options.extra = { session: { intra_op_thread_affinities: affinities } };
  }

  const providers = providersFor(spec);
  const deviceId = spec.gpu ?? 0;
  options.executionProviders = providers.map((name) => (name === 'cpu' ? 'cpu' : { name, deviceId }));
  return Object.freeze({ options: Object.freeze(options), providers: Object.freeze(providers) });
}
