/**
 * Servers for benchmarks, each in its own process so it does not share the load generator's event loop (it still
 * shares the machine's cores — say so next to every figure): the floor server, the naive server, and Open-AutoGLM
 * itself (`autoglm serve`, run from the sources).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface ServerProcess {
  readonly url: string;
  readonly child: ChildProcess;
  close(): Promise<void>;
}

const ROOT = join(import.meta.dirname, '..', '..');

/** Which CPUs a spawned server may run on (taskset list, e.g. '0'); unset = any. Set by `pinServersTo`. */
let serverCpus: string | undefined;

/**
 * Pins servers spawned from now on to `serverCpuList` and this process (all its threads) to `clientCpuList`, so the
 * load generator's own CPU use cannot take the server's (other processes on the machine still can). Linux taskset.
 */
export function pinServersTo(serverCpuList: string, clientCpuList: string): void {
  serverCpus = serverCpuList;
  const r = spawnSync('taskset', ['-a', '-p', '-c', clientCpuList, String(process.pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset failed: ${r.stderr || r.error?.message}`);
}

/** Spawns `node --import tsx <script> …args` (plain `node` with `tsx` false) and resolves once a stdout line yields the base URL. */
function spawnUntil(args: string[], urlOf: (line: string) => string | undefined, timeoutMs: number, tsx = true): Promise<ServerProcess> {
  const nodeArgs = [process.execPath, ...(tsx ? ['--import', 'tsx'] : []), ...args];
  const [cmd, ...argv] = serverCpus ? ['taskset', '-c', serverCpus, ...nodeArgs] : nodeArgs;
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
  const close = () => new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { void close(); reject(new Error(`${args[0]} did not start within ${timeoutMs} ms\n${stderr}`)); }, timeoutMs);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const url = urlOf(line);
      if (url) {
        clearTimeout(timer);
        resolve({ url, child, close });
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${args[0]} exited (${code}) before listening\n${stderr}`)); });
  });
}

const listeningLine = (line: string) => /^listening (http:\/\/\S+)$/.exec(line)?.[1];

export function spawnFloorServer(opts: { outputBytes?: number; serviceMs?: number; specFile?: string } = {}): Promise<ServerProcess> {
  return spawnUntil(['bench/baselines/floor-server.ts', '--output-bytes', String(opts.outputBytes ?? 64),
    '--service-ms', String(opts.serviceMs ?? 0), ...(opts.specFile ? ['--spec', opts.specFile] : [])], listeningLine, 20_000);
}

export function spawnNaiveServer(modelPath: string, name: string, threads = 1): Promise<ServerProcess> {
  return spawnUntil(['bench/baselines/naive-server.ts', '--model', modelPath, '--name', name, '--threads', String(threads)], listeningLine, 30_000);
}

/**
 * `autoglm serve` on a free port; extra flags are passed through (e.g. --metrics-port). From the sources through tsx,
 * or with `fromDist` the built `dist/src/cli/main.js` (what `npm start` runs; `npm run build` first). Its gRPC
 * frontend listens on a free port too (unless `extra` sets --grpc-port or --allow-grpc); `grpcTarget` is its
 * host:port, resolved once both frontends listen.
 */
export async function spawnAutoglmServe(repository: string, extra: string[] = [], opts: { fromDist?: boolean } = {}): Promise<ServerProcess & { grpcTarget?: string }> {
  const grpcFlags = extra.some((a) => a.startsWith('--grpc-port') || a.startsWith('--allow-grpc')) ? [] : ['--grpc-port', '0'];
  const grpcOff = extra.some((a) => /^--allow-grpc=(false|0)$/.test(a)) || extra.join(' ').includes('--allow-grpc false');
  let httpUrl: string | undefined;
  let grpcTarget: string | undefined;
  const portOf = (line: string): number | undefined => {
    try {
      return (JSON.parse(line) as { port?: number }).port;
    } catch {
      const m = /port[":= ]+(\d+)/.exec(line);
      return m ? Number(m[1]) : undefined;
    }
  };
  const proc = await spawnUntil([opts.fromDist ? 'dist/src/cli/main.js' : 'src/cli/main.ts', 'serve', '--model-repository', repository, '--http-port', '0', '--http-address', '127.0.0.1', ...grpcFlags, ...extra],
    (line) => {
      const port = line.includes('HTTP server listening') || line.includes('gRPC server listening') ? portOf(line) : undefined;
      if (port && line.includes('HTTP server listening')) httpUrl = `http://127.0.0.1:${port}`;
      if (port && line.includes('gRPC server listening')) grpcTarget = `127.0.0.1:${port}`;
      return httpUrl && (grpcTarget || grpcOff) ? httpUrl : undefined;
    }, 60_000, !opts.fromDist);
  return { ...proc, grpcTarget };
}

/**
 * The rejected gRPC stack (bench/baselines/grpc-js-server.ts): InferenceServer + HttpFrontend + grpc-js serving
 * ModelInfer. `grpcTarget` is its gRPC host:port.
 */
export async function spawnGrpcJsServer(repository: string): Promise<ServerProcess & { grpcTarget?: string }> {
  let grpcTarget: string | undefined;
  const proc = await spawnUntil(['bench/baselines/grpc-js-server.ts', '--model-repository', repository], (line) => {
    const m = /^listening (http:\/\/\S+) grpc:\/\/(\S+)$/.exec(line);
    if (!m) return undefined;
    grpcTarget = m[2];
    return m[1];
  }, 60_000);
  return { ...proc, grpcTarget };
}

/** Throws, naming the Debian package, when a command a benchmark runs is not installed (e.g. wrk, taskset). */
export function requireCommands(commands: Readonly<Record<string, string>>): void {
  for (const [cmd, pkg] of Object.entries(commands)) {
    const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new Error(`${cmd} is not installed: apt-get install ${pkg}`);
    }
  }
}

/** A gRPC server answering every call with one fixed reply (bench/baselines/h2-fixed-reply-server.ts); `url` is host:port. */
export function spawnH2FixedReplyServer(stack: 'node-http2' | 'h2'): Promise<ServerProcess> {
  return spawnUntil(['bench/baselines/h2-fixed-reply-server.ts', '--stack', stack], (line) => /^listening grpc:\/\/(\S+)$/.exec(line)?.[1], 20_000);
}
