import type { Level } from 'pino';
import { InferenceServer } from '../server/inference-server.js';
import { HttpFrontend, ThreadedHttpFrontend } from '../frontends/http/index.js';
import { GrpcFrontend } from '../frontends/grpc/index.js';
import { parseServeArgs, SERVE_HELP, UsageError } from './serve-options.js';
import { createLogger } from './logger.js';
import { startMetricsServer, type MetricsServer } from '../metrics/metrics-server.js';
import { LiveFeed } from '../metrics/live-feed.js';
import { connectHost, dashboardRoutes } from '../dashboard/index.js';
import { LogSink, sharedDropCounter } from '../core/log-sink.js';
import { untilShutdown } from './shutdown.js';

/**
 * `autoglm serve`: load the repositories, listen for HTTP and gRPC, and on SIGTERM/SIGINT stop accepting, finish
 * in-flight requests, unload the models and resolve 0. Resolves the exit code; never calls process.exit itself.
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
  // Logs never block or kill the server: a failing stdout drops lines and counts them (issue 14; log-sink.ts).
  const logDropped = sharedDropCounter();
  const sink = new LogSink({ dropped: logDropped });
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  const log = createLogger(opts.logVerbose, opts.logFormat, sink);
  // SIGTERM/SIGINT from the start, loading included: stop accepting, finish in-flight work, unload, exit 0; bounded by
  // --exit-timeout-secs, and a second signal exits at once (shutdown.ts). Requests that arrive on open connections
  // meanwhile are served, with `Connection: close` (HTTP), so each keep-alive client gets its answer and then
  // reconnects elsewhere. A signal during loading lets the loads finish (bounded the same way), then unloads.
  const up: { http?: HttpFrontend | ThreadedHttpFrontend; grpc?: GrpcFrontend; metrics?: MetricsServer; feed?: LiveFeed } = {};
  let stopping = false;
  let creating: Promise<InferenceServer> | undefined;
  const shutdown = untilShutdown({
    exitTimeoutMs: opts.exitTimeoutSecs * 1000,
    log,
    stop: async () => {
      stopping = true;
      up.feed?.stop();
      await Promise.all([up.http?.close(), up.grpc?.close(), up.metrics?.close()]);
      await (await creating?.catch(() => undefined))?.close();
    },
    beforeForcedExit: () => sink.flush(),
  });
  let server: InferenceServer;
  try {
    creating = InferenceServer.create({
      modelRepositories: opts.modelRepositories,
      strictModelConfig: opts.strictModelConfig,
      limits: opts.limits,
      logger: log,
      batchingPolicy: opts.batchingPolicy,
      computeCores: opts.computeCores,
      computeNice: opts.computeNice,
      allowOrtTelemetry: opts.allowOrtTelemetry,
      cache: opts.cache,
      modelControlMode: opts.modelControlMode,
      startupModels: opts.startupModels,
      pollSecs: opts.pollSecs,
      controlToken: opts.controlToken,
    });
    server = await creating;
  } catch (err) {
    if (stopping) return shutdown;
    log.error({ err: (err as Error).message }, 'cannot start');
    return 1;
  }
  if (stopping) return shutdown;
  // Models explicit mode did not load are not failures: readiness counts only the models to be served.
  const failed = server.repositoryIndex().filter((r) => r.state !== 'READY');
  if (!server.isReady() && opts.exitOnError) {
    log.error({ failed: failed.map((f) => f.name) }, 'models failed to load and --exit-on-error is set');
    await server.close();
    return 1;
  }
  let http: HttpFrontend | ThreadedHttpFrontend;
  try {
    http = opts.httpThreadCount > 0
      ? await ThreadedHttpFrontend.listen(server, { threads: opts.httpThreadCount, port: opts.httpPort, host: opts.httpAddress, logLevel: log.level as Level, logDropped })
      : await HttpFrontend.listen(server, { port: opts.httpPort, host: opts.httpAddress, logger: log.child({ frontend: 'http' }) });
  } catch (err) {
    log.error({ err }, 'cannot listen for HTTP');
    await server.close();
    return 1;
  }
  up.http = http;
  if (stopping) {
    await http.close();
    return shutdown;
  }
  log.info({ address: http.address, port: http.port, models: server.repositoryIndex({ readyOnly: true }).length }, 'HTTP server listening');
  if (opts.allowGrpc) {
    let grpc: GrpcFrontend;
    try {
      grpc = await GrpcFrontend.listen(server, { port: opts.grpcPort, host: opts.grpcAddress, logger: log.child({ frontend: 'grpc' }) });
    } catch (err) {
      // As tritonserver: a protocol that was asked for and cannot be served is a failed start, not a warning.
      log.error({ err, port: opts.grpcPort }, 'cannot listen for gRPC');
      await http.close();
      await server.close();
      return 1;
    }
    up.grpc = grpc;
    if (stopping) {
      await grpc.close();
      return shutdown;
    }
    const host = grpc.address.includes(':') ? `[${grpc.address}]` : grpc.address;
    log.info({ address: grpc.address, port: grpc.port, url: `grpc://${host}:${grpc.port}` }, 'gRPC server listening');
  }
  if (opts.allowMetrics) {
    try {
      const dropped = server.metrics.registry.counter('autoglm_log_lines_dropped',
        'Log lines dropped because stdout failed (its reader gone, a full disk, a reader too slow)').labels();
      if (opts.allowDashboard) up.feed = new LiveFeed({ registry: server.metrics.registry, models: () => server.repositoryIndex() });
      const feed = up.feed;
      const meta = server.serverMetadata();
      const metrics = await startMetricsServer(() => {
        dropped.value = sink.dropped;
        return server.metrics.render();
      }, {
        port: opts.metricsPort, address: opts.metricsAddress,
        routes: feed && dashboardRoutes({
          feed, server: { name: meta.name, version: meta.version },
          // Load/unload buttons where the repository API serves them (explicit mode), with the token field if needed.
          control: () => ({ enabled: opts.modelControlMode === 'explicit', tokenRequired: opts.controlToken !== undefined }),
          v2: { host: connectHost(http.address), port: http.port },
        }),
      });
      up.metrics = metrics;
      if (stopping) {
        up.feed?.stop();
        await metrics.close();
        return shutdown;
      }
      log.info({ address: opts.metricsAddress, port: metrics.port, dashboard: feed !== undefined }, 'metrics server listening');
    } catch (err) {
      // Inference keeps serving without metrics (e.g. port 8002 taken by another server on this machine).
      up.feed?.stop();
      up.feed = undefined;
      log.error({ err, port: opts.metricsPort }, 'cannot listen for metrics: serving without /metrics');
    }
  }
  return shutdown;
}
