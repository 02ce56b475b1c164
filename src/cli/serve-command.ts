import type { Level } from 'pino';
import { InferenceServer } from '../server/inference-server.js';
import { HttpFrontend, ThreadedHttpFrontend } from '../frontends/http/index.js';
import { parseServeArgs, SERVE_HELP, UsageError } from './serve-options.js';
import { createLogger } from './logger.js';
import { startMetricsServer, type MetricsServer } from '../metrics/metrics-server.js';

/**
 * `autoglm serve`: load the repositories, listen for HTTP, and on SIGTERM/SIGINT stop accepting, finish in-flight
 * requests, unload the models and resolve 0. Resolves the exit code; never calls process.exit itself.
 */
export async function runServeCommand(argv: string[]): Promise<number> {
  let opts;
  try {
    opts = parseServeArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`autoglm serve: ${err.message}\n\n${SERVE_HELP}`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const log = createLogger(opts.logVerbose, opts.logFormat);
  const server = await InferenceServer.create({
    modelRepositories: opts.modelRepositories,
    strictModelConfig: opts.strictModelConfig,
    limits: opts.limits,
    logger: log,
    batchingPolicy: opts.batchingPolicy,
    computeCores: opts.computeCores,
    computeNice: opts.computeNice,
    cache: opts.cache,
  });
  const failed = server.repositoryIndex().filter((r) => r.state !== 'READY');
  if (failed.length > 0 && opts.exitOnError) {
    log.error({ failed: failed.map((f) => f.name) }, 'models failed to load and --exit-on-error is set');
    await server.close();
    return 1;
  }
  let http: HttpFrontend | ThreadedHttpFrontend;
  try {
    http = opts.httpThreadCount > 0
      ? await ThreadedHttpFrontend.listen(server, { threads: opts.httpThreadCount, port: opts.httpPort, host: opts.httpAddress, logLevel: log.level as Level })
      : await HttpFrontend.listen(server, { port: opts.httpPort, host: opts.httpAddress, logger: log.child({ frontend: 'http' }) });
  } catch (err) {
    log.error({ err }, 'cannot listen for HTTP');
    await server.close();
    return 1;
  }
  log.info({ address: http.address, port: http.port, models: server.repositoryIndex({ readyOnly: true }).length }, 'HTTP server listening');
  let metrics: MetricsServer | undefined;
  if (opts.allowMetrics) {
    try {
      metrics = await startMetricsServer(() => server.metrics.render(), { port: opts.metricsPort, address: opts.metricsAddress });
      log.info({ address: opts.metricsAddress, port: metrics.port }, 'metrics server listening');
    } catch (err) {
      // Inference keeps serving without metrics (e.g. port 8002 taken by another server on this machine).
      log.error({ err, port: opts.metricsPort }, 'cannot listen for metrics: serving without /metrics');
    }
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      stopping = true;
      log.info({ signal }, 'shutting down: finishing in-flight requests');
      void Promise.all([http.close(), metrics?.close()])
        .then(() => server.close())
        .then(() => {
          log.info('shut down');
          resolve(0);
        }, (err: unknown) => {
          log.error({ err }, 'error while shutting down');
          resolve(1);
        });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
