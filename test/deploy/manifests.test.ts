/**
 * deploy/ validated offline: the Helm chart renders (test/deploy/helm-render.ts) and every object it renders, and
 * every KServe manifest, validates against the Kubernetes schemas (kubernetes-models) or KServe's CRD schemas
 * (test/fixtures/kserve); the pieces fit each other (selectors, names, ports, the metric the HPA asks for); and
 * what the manifests tell the server to do is what `autoglm serve` accepts and answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { ChartRenderer } from './helm-render.js';
import { crdValidator, validateBuiltIn, validateContainer } from './k8s-validate.js';
import { parseServeArgs, type ServeOptions } from '../../src/cli/serve-options.js';
import { InferenceServer } from '../../src/server/inference-server.js';
import { HttpFrontend } from '../../src/frontends/http/index.js';
import { mlpModel, seededFloats, writeModel } from '../fixtures/models.js';
import { tempRepo } from '../http/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const chart = new ChartRenderer(join(ROOT, 'deploy', 'helm', 'open-autoglm'));
type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests are untyped YAML
const yamlDocs = (path: string): Obj[] => parseAllDocuments(readFileSync(join(ROOT, path), 'utf8')).map((d) => d.toJS() as Obj);
const find = (docs: Obj[], kind: string, component = 'server') =>
  docs.find((d) => d.kind === kind && (d.metadata.labels?.['app.kubernetes.io/component'] ?? 'server') === component);
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const serveOptions = (args: string[]): ServeOptions => {
  assert.equal(args[0], 'serve');
  const o = parseServeArgs(args.slice(1));
  assert.notEqual(o, 'help');
  return o as ServeOptions;
};

const VARIANTS: Record<string, Obj> = {
  defaults: {},
  'everything on': { redis: { enabled: true }, autoscaling: { enabled: true }, server: { extraArgs: ['--log-verbose', '1'] } },
  'everything off': { serviceMonitor: { enabled: false }, podDisruptionBudget: { enabled: false }, server: { localCacheSize: '' } },
  'external redis': { redis: { host: 'redis.cache.svc' }, image: { tag: '9.9.9' } },
};

for (const [name, values] of Object.entries(VARIANTS)) {
  test(`chart (${name}): every rendered object validates against its Kubernetes schema`, async () => {
    const docs = chart.render({ name: 'demo' }, values);
    assert.ok(docs.length >= 2);
    for (const d of docs) await assert.doesNotReject(validateBuiltIn(d), `${String(d.kind)} ${String((d as Obj).metadata?.name)}`);
  });
}

test('the schemas can fail: a wrong type or a missing required field is refused', async () => {
  const deployment: Obj = chart.render({ name: 'demo' })[0];
  const broken = structuredClone(deployment);
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'eight thousand';
  await assert.rejects(validateBuiltIn(broken), /containerPort/);
  const noSelector = structuredClone(deployment);
  delete noSelector.spec.selector;
  await assert.rejects(validateBuiltIn(noSelector), /selector/);
  await assert.rejects(validateBuiltIn({ apiVersion: 'example.com/v1', kind: 'Nothing' }), /no schema for example\.com\/v1 Nothing/);
  assert.throws(() => new ChartRenderer(join(ROOT, 'test', 'fixtures', 'kserve')), /Chart\.yaml/, 'not a chart');
});

test('chart: the pieces fit — selectors, names, ports, probes on the v2 health endpoints, the drain within the grace period', () => {
  const docs = chart.render({ name: 'demo' }, { redis: { enabled: true }, autoscaling: { enabled: true } });
  const deployment = find(docs, 'Deployment')!;
  const pod = deployment.spec.template;
  const [container] = pod.spec.containers;
  assert.ok(matches(deployment.spec.selector.matchLabels, pod.metadata.labels));
  const service = find(docs, 'Service')!;
  assert.ok(matches(service.spec.selector, pod.metadata.labels), 'the Service selects the server pods');
  const redis = find(docs, 'Deployment', 'cache')!;
  assert.ok(!matches(service.spec.selector, redis.spec.template.metadata.labels), 'and not the Redis pod');
  assert.ok(!matches(deployment.spec.selector.matchLabels, redis.spec.template.metadata.labels), 'the Deployments do not share pods');
  const monitor = find(docs, 'ServiceMonitor')!;
  assert.ok(matches(monitor.spec.selector.matchLabels, service.metadata.labels), 'the ServiceMonitor finds the Service');
  const portNames = container.ports.map((p: Obj) => p.name);
  assert.ok(portNames.includes(monitor.spec.endpoints[0].port));
  for (const p of service.spec.ports) assert.ok(portNames.includes(p.targetPort), `Service port ${p.name}`);
  const pdb = find(docs, 'PodDisruptionBudget')!;
  assert.ok(matches(pdb.spec.selector.matchLabels, pod.metadata.labels));
  const hpa = find(docs, 'HorizontalPodAutoscaler')!;
  assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
  assert.equal(deployment.spec.replicas, undefined, 'with the HPA on, the Deployment leaves the count to it');
  // The server's own flags, as `autoglm serve` parses them.
  const o = serveOptions(container.args);
  assert.deepEqual([o.httpPort, o.grpcPort, o.metricsPort], [8000, 8001, 8002]);
  assert.deepEqual(container.ports.map((p: Obj) => p.containerPort), [8000, 8001, 8002]);
  assert.deepEqual(o.modelRepositories, ['/models']);
  assert.ok(container.volumeMounts.some((m: Obj) => m.mountPath === '/models' && m.readOnly));
  const redisService = find(docs, 'Service', 'cache')!;
  assert.deepEqual(o.cache.map((t) => t.kind), ['local', 'redis']);
  assert.deepEqual(o.cache[1], { ...o.cache[1], host: redisService.metadata.name, port: redisService.spec.ports[0].port });
  // Termination: the preStop sleep, then SIGTERM and at most --exit-timeout-secs of draining, all inside the grace period.
  const preStop = Number(container.lifecycle.preStop.exec.command[1]);
  assert.ok(preStop > 0);
  assert.ok(pod.spec.terminationGracePeriodSeconds > preStop + o.exitTimeoutSecs, 'Kubernetes never SIGKILLs a drain in progress');
  assert.equal(container.livenessProbe.httpGet.path, '/v2/health/live');
  assert.equal(container.readinessProbe.httpGet.path, '/v2/health/ready');
  assert.equal(container.startupProbe.httpGet.path, '/v2/health/live');
  assert.equal(container.startupProbe.periodSeconds * container.startupProbe.failureThreshold, 300);
  assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
});

test('chart values change what they say: replicas, exit timeout, image tag, no Redis flag without Redis', () => {
  const docs = chart.render({ name: 'open-autoglm' }, { replicaCount: 5, server: { exitTimeoutSecs: 90, localCacheSize: '' }, image: { tag: '1.2.3' } });
  const deployment = find(docs, 'Deployment')!;
  assert.equal(deployment.metadata.name, 'open-autoglm', 'a release named like the chart is not doubled');
  assert.equal(deployment.spec.replicas, 5);
  const [container] = deployment.spec.template.spec.containers;
  assert.equal(container.image, 'open-autoglm:1.2.3');
  const o = serveOptions(container.args);
  assert.equal(o.exitTimeoutSecs, 90);
  assert.deepEqual(o.cache, []);
  assert.equal(deployment.spec.template.spec.terminationGracePeriodSeconds, 5 + 90 + 5);
  assert.equal(find(docs, 'HorizontalPodAutoscaler'), undefined);
  assert.equal(find(docs, 'Deployment', 'cache'), undefined);
});

test('the renderer refuses what it does not implement', () => {
  const dir = tempRepo('autoglm-chart-');
  try {
    mkdirSync(join(dir.dir, 'templates'));
    writeFileSync(join(dir.dir, 'Chart.yaml'), 'name: x\nversion: 0.0.1\n');
    writeFileSync(join(dir.dir, 'values.yaml'), 'a: 1\n');
    writeFileSync(join(dir.dir, 'templates', 'x.yaml'), 'a: {{ .Values.a | b64enc }}\n');
    assert.throws(() => new ChartRenderer(dir.dir).render({ name: 'r' }), /unsupported function: b64enc/);
    writeFileSync(join(dir.dir, 'templates', 'x.yaml'), '{{ with .Values }}a: 1{{ end }}\n');
    assert.throws(() => new ChartRenderer(dir.dir), /unsupported action/);
  } finally {
    dir.remove();
  }
});

const kserveCrds = [yamlDocs('test/fixtures/kserve/servingruntimes.crd.yaml')[0], yamlDocs('test/fixtures/kserve/inferenceservices.crd.yaml')[0]];
const validateKserve = crdValidator(kserveCrds);
const runtime = yamlDocs('deploy/kserve/servingruntime.yaml')[0];
const isvc = yamlDocs('deploy/kserve/inferenceservice.yaml')[0];

test('KServe: the CRD schemas are valid CustomResourceDefinitions; the ServingRuntime and InferenceService validate against them', async () => {
  for (const crd of kserveCrds) await validateBuiltIn(crd);
  assert.deepEqual(validateKserve(runtime), []);
  assert.deepEqual(validateKserve(isvc), []);
  for (const c of runtime.spec.containers) await validateContainer(c);
  const { modelFormat, runtime: _r, protocolVersion, storageUri, ...containerFields } = isvc.spec.predictor.model;
  await validateContainer({ name: 'kserve-container', ...containerFields });
  await assert.rejects(validateContainer({ name: 'kserve-container', ...containerFields, args: 'serve' }), /args/);
  // …and they can fail: a misspelt field, an out-of-range canary, an unknown protocol.
  const bad = structuredClone(isvc);
  bad.spec.predictor.canaryTrafficPercents = 10;
  bad.spec.predictor.model.protocolVersion = 'v3';
  bad.spec.predictor.canaryTrafficPercent = 150;
  const errors = validateKserve(bad).join('\n');
  assert.match(errors, /canaryTrafficPercents/);
  assert.match(errors, /must be <= 100/);
  assert.match(errors, /protocolVersion must be equal to one of the allowed values/);
  assert.deepEqual(validateKserve({ ...runtime, spec: { supportedModelFormats: [] } }), ['/spec must have required property \'containers\'']);
});

test('KServe: the runtime serves onnx on v2 from /mnt/models in kserve-container, on the ports KServe routes to; the InferenceService uses it with a canary', () => {
  const [container] = runtime.spec.containers;
  assert.equal(container.name, 'kserve-container');
  assert.ok(runtime.spec.supportedModelFormats.some((f: Obj) => f.name === 'onnx' && f.autoSelect));
  assert.ok(runtime.spec.protocolVersions.includes('v2'));
  const o = serveOptions(container.args);
  assert.deepEqual(o.modelRepositories, ['/mnt/models']);
  assert.equal(o.httpPort, 8080);
  assert.equal(o.grpcPort, 9000);
  assert.equal(container.ports[0].containerPort, o.httpPort);
  assert.equal(String(o.metricsPort), runtime.metadata.annotations['prometheus.kserve.io/port']);
  assert.equal(container.readinessProbe.httpGet.path, '/v2/health/ready');
  const p = isvc.spec.predictor;
  assert.equal(p.model.runtime, runtime.metadata.name);
  assert.ok(runtime.spec.supportedModelFormats.some((f: Obj) => f.name === p.model.modelFormat.name));
  assert.ok(runtime.spec.protocolVersions.includes(p.model.protocolVersion));
  assert.ok(p.canaryTrafficPercent > 0 && p.canaryTrafficPercent < 100);
});

test('autoscaling: the adapter rule exposes the metric the HPA asks for, from series the server exports', async () => {
  const adapter = parse(readFileSync(join(ROOT, 'deploy', 'autoscaling', 'prometheus-adapter-values.yaml'), 'utf8')) as Obj;
  const [rule] = adapter.rules.custom;
  const hpa = find(chart.render({ name: 'demo' }, { autoscaling: { enabled: true } }), 'HorizontalPodAutoscaler')!;
  assert.equal(hpa.spec.metrics[0].pods.metric.name, rule.name.as);
  const queried = [...new Set([...`${rule.seriesQuery} ${rule.metricsQuery}`.matchAll(/\b(nv_\w+)\{/g)].map((m) => m[1]))];
  assert.deepEqual(queried.sort(), ['nv_inference_queue_duration_us', 'nv_inference_request_success']);
  assert.match(rule.seriesQuery.split('{')[0], new RegExp(rule.name.matches));
  // A real server, after one inference: both series exist as counters.
  const repo = tempRepo('autoglm-adapter-');
  const mlp = mlpModel(8, 16, 4, 3);
  writeModel(repo.dir, 'mlp', mlp.bytes, { config: 'max_batch_size: 8\ninput [ { name: "input" data_type: TYPE_FP32 dims: [ 8 ] } ]\noutput [ { name: "output" data_type: TYPE_FP32 dims: [ 4 ] } ]' });
  const server = await InferenceServer.create({ modelRepositories: [repo.dir] });
  try {
    await server.infer({ model: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 8], data: seededFloats(8, 1, 1) }] });
    const text = server.metrics.render();
    for (const name of queried) {
      assert.match(text, new RegExp(`^# TYPE ${name} counter$`, 'm'));
      assert.match(text, new RegExp(`^${name}\\{model="mlp",version="1"\\} \\d+`, 'm'));
    }
    assert.match(text, /^nv_inference_request_success\{model="mlp",version="1"\} 1$/m);
  } finally {
    await server.close();
    repo.remove();
  }
});

test('the probes\' paths answer 200 on a ready server', async () => {
  const deployment: Obj = chart.render({ name: 'demo' })[0];
  const [container] = deployment.spec.template.spec.containers;
  const repo = tempRepo('autoglm-probes-');
  const server = await InferenceServer.create({ modelRepositories: [repo.dir] });
  const http = await HttpFrontend.listen(server, { port: 0, host: '127.0.0.1' });
  try {
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const res = await fetch(`http://127.0.0.1:${http.port}${container[probe].httpGet.path}`);
      assert.equal(res.status, 200, probe);
    }
  } finally {
    await http.close();
    await server.close();
    repo.remove();
  }
});

test('Dockerfile: Node 20 slim stages, runtime deps only, non-root, the three ports, HEALTHCHECK on ready, models at /models', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
  const froms = lines.filter((l) => l.startsWith('FROM '));
  assert.ok(froms.length >= 2 && froms.every((l) => /^FROM node:20-[a-z]+-slim\b/.test(l)), 'multi-stage, Node 20 on Debian slim');
  const final = lines.slice(lines.lastIndexOf(froms.at(-1)!));
  assert.ok(final.some((l) => /^COPY --from=\S+ \S*node_modules node_modules$/.test(l)));
  assert.ok(lines.some((l) => /^RUN .*npm ci --omit=dev/.test(l)), 'npm ci --omit=dev');
  assert.ok(final.some((l) => /^USER (node|[1-9]\d*)$/.test(l)), 'non-root');
  assert.ok(final.includes('EXPOSE 8000 8001 8002'));
  assert.match(final.find((l) => l.startsWith('HEALTHCHECK'))!, /http:\/\/127\.0\.0\.1:8000\/v2\/health\/ready/);
  assert.ok(final.includes('VOLUME ["/models"]'));
  const entry = JSON.parse(final.find((l) => l.startsWith('ENTRYPOINT '))!.slice(11)) as string[];
  const cmd = JSON.parse(final.find((l) => l.startsWith('CMD '))!.slice(4)) as string[];
  assert.deepEqual(entry, ['node', '/app/dist/src/cli/main.js']);
  const o = serveOptions(cmd);
  assert.deepEqual(o.modelRepositories, ['/models']);
  assert.equal(o.allowOrtTelemetry, false, 'ONNX Runtime telemetry off');
});
