/**
 * Offline validation of Kubernetes manifests: built-in kinds and the Prometheus Operator's ServiceMonitor against
 * the schemas in `kubernetes-models`; custom resources against a CustomResourceDefinition's openAPIV3Schema (Ajv),
 * with unknown fields refused where the schema lists an object's fields (what `kubectl apply`'s strict field
 * validation does; the API server would otherwise prune them silently).
 */
import { Ajv } from 'ajv';

interface Validatable { validate(): void }
type ModelClass = new (data: unknown) => Validatable;

/** The kubernetes-models class for apiVersion/kind (both packages are ES modules: imported on demand). */
async function modelClass(apiVersion: string, kind: string): Promise<ModelClass> {
  const pkg = apiVersion.startsWith('monitoring.coreos.com/') ? '@kubernetes-models/prometheus-operator' : 'kubernetes-models';
  const Model = (await import(`${pkg}/${apiVersion}/${kind}`).catch(() => ({})) as Record<string, ModelClass>)[kind];
  if (!Model) throw new Error(`no schema for ${apiVersion} ${kind}`);
  return Model;
}

/** Rejects, naming the field and the problem, when `doc` is not a valid object of its kind. */
export async function validateBuiltIn(doc: Record<string, unknown>): Promise<void> {
  const Model = await modelClass(String(doc.apiVersion), String(doc.kind));
  new Model(doc).validate();
}

/** A k8s Container (what a ServingRuntime's containers and an InferenceService's model spec are). */
export async function validateContainer(container: unknown): Promise<void> {
  const Container = await modelClass('v1', 'Container');
  new Container(container).validate();
}

type Schema = Record<string, unknown>;

/** The schema with `additionalProperties: false` wherever it lists properties and does not preserve unknown fields. */
function strict(schema: Schema): Schema {
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'properties') out[k] = Object.fromEntries(Object.entries(v as Record<string, Schema>).map(([p, s]) => [p, strict(s)]));
    else if ((k === 'items' || k === 'additionalProperties') && v && typeof v === 'object') out[k] = strict(v as Schema);
    else out[k] = v;
  }
  if (schema.properties && schema['x-kubernetes-preserve-unknown-fields'] !== true && !('additionalProperties' in schema)) out.additionalProperties = false;
  return out;
}

/** Validators for the custom resources that `crds` define, by apiVersion/kind. */
export function crdValidator(crds: readonly Record<string, unknown>[]): (doc: Record<string, unknown>) => string[] {
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat('int32', true).addFormat('int64', true);
  const byKind = new Map<string, ReturnType<Ajv['compile']>>();
  for (const crd of crds) {
    const spec = crd.spec as { group: string; names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
    for (const v of spec.versions) byKind.set(`${spec.group}/${v.name} ${spec.names.kind}`, ajv.compile(strict(v.schema.openAPIV3Schema)));
  }
  return (doc) => {
    const check = byKind.get(`${String(doc.apiVersion)} ${String(doc.kind)}`);
    if (!check) return [`no CRD for ${String(doc.apiVersion)} ${String(doc.kind)}`];
    return check(doc) ? [] : (check.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params && 'additionalProperty' in e.params ? `: ${String(e.params.additionalProperty)}` : ''}`);
  };
}
