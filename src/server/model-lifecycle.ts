/**
 * The one owner of models' lifecycle (Triton's model repository manager): which models the server knows, each
 * version's state transitions (LOADING → READY → UNLOADING → UNAVAILABLE), loads and reloads, unloads, the model
 * control mode and poll mode's rescans. The InferenceServer reads `models` to route requests and calls the rest.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { InferenceError, notFound } from '../core/index.js';
import { modelFingerprint, scanRepositories } from '../repository/index.js';
import { ensembleLoadRounds, stepModelNames } from '../pipeline/index.js';
import { type LoadOptions, buildMetadata, readModel, startVersion, stopVersion } from './load-model.js';
import { ManagedModel, ModelVersion } from './model-version.js';
import { COMPOSITE_PLATFORMS } from './scheduler-factory.js';
import { TRAFFIC_PARAMETER, TrafficSplit, parseTrafficSplit } from './traffic-split.js';

/**
 * tritonserver's --model-control-mode: `none` loads every model at start and refuses load/unload requests; `explicit`
 * loads the startup models and serves load/unload; `poll` loads every model and follows the repositories' changes.
 */
export type ModelControlMode = 'none' | 'poll' | 'explicit';
export const MODEL_CONTROL_MODES: readonly ModelControlMode[] = ['none', 'poll', 'explicit'];

export interface LifecycleOptions {
  readonly repositories: readonly string[];
  readonly load: LoadOptions;
  readonly log: Logger;
  readonly controlMode: ModelControlMode;
  /** Explicit mode: the models loaded at start (`*` = all); others are known but not loaded. */
  readonly startupModels: readonly string[];
  /** Poll mode: seconds between rescans. */
  readonly pollSecs: number;
  /** A version became READY (the server attaches what it keeps per version, e.g. cache counters). */
  readonly onReady: (m: ManagedModel, v: ModelVersion) => void;
  /** A model version stopped being served for good (not replaced by a reload): its metric series go. */
  readonly onGone: (model: string, version: string) => void;
}

const reasonOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export class ModelLifecycle {
  /** Every model found in the repositories (and not removed from them since), by name. */
  readonly models = new Map<string, ManagedModel>();
  /** Per model name, the load/unload in progress: later ones queue behind it. */
  private readonly transitions = new Map<string, Promise<void>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly o: LifecycleOptions) {}

  /**
   * Scans the repositories and loads what the mode says (explicit: the startup models, and the models their
   * ensembles use; else all), concurrently; resolves when each is READY or UNAVAILABLE. Throws when a startup model
   * is not in the repositories. Poll mode then rescans every `pollSecs`.
   */
  async start(): Promise<void> {
    const found = await scanRepositories([...this.o.repositories], (e) => this.o.log.warn(e, 'not a model folder: ignored'));
    for (const f of found) {
      const m = new ManagedModel(f.name, f.root, f.modelDir);
      m.scanError = f.error;
      // A name in two repositories is listed once, unavailable with the reason (Triton refuses such a model too).
      if (!this.models.has(f.name)) this.models.set(f.name, m);
    }
    let wanted = [...this.models.keys()];
    if (this.o.controlMode === 'explicit' && !this.o.startupModels.includes('*')) {
      const unknown = this.o.startupModels.filter((n) => !this.models.has(n));
      if (unknown.length > 0) throw new Error(`--load-model: no model ${unknown.map((n) => `'${n}'`).join(', ')} in the model repositories`);
      wanted = this.withSteps(this.o.startupModels);
      for (const m of this.models.values()) {
        if (wanted.includes(m.name)) continue;
        m.wanted = false;
        m.state = 'UNAVAILABLE';
        m.reason = 'not loaded (explicit model control: load it with the repository API)';
      }
    }
    await this.loadInOrder(wanted.map((n) => this.models.get(n)!));
    if (this.o.controlMode === 'poll') this.schedulePoll();
  }

  /** The names and, for ensembles, the models their steps use (transitively). */
  private withSteps(names: readonly string[]): string[] {
    const out = new Set<string>();
    const visit = (n: string) => {
      if (out.has(n) || !this.models.has(n)) return;
      out.add(n);
      for (const step of stepModelNames(this.configText(this.models.get(n)!))) visit(step);
    };
    names.forEach(visit);
    return [...out];
  }

  /** Models that run on other models (ensembles) load after those, so their plans can look the others up. */
  private async loadInOrder(models: readonly ManagedModel[]): Promise<void> {
    const composite = models.filter((m) => this.isComposite(m));
    await Promise.all(models.filter((m) => !composite.includes(m)).map((m) => this.serialize(m.name, () => this.loadFresh(m.name, m.root, m.modelDir))));
    // Ensembles of ensembles: each after the ones it uses (src/pipeline/load-order.ts).
    const uses = composite.map((m) => ({ name: m.name, uses: stepModelNames(this.configText(m)) }));
    for (const round of ensembleLoadRounds(uses)) {
      await Promise.all(round.map((name) => {
        const m = this.models.get(name)!;
        return this.serialize(name, () => this.loadFresh(name, m.root, m.modelDir));
      }));
    }
  }

  /** Whether a model's config.pbtxt names a composite platform (read cheaply, before its config is loaded). */
  private isComposite(m: ManagedModel): boolean {
    const text = this.configText(m);
    return [...COMPOSITE_PLATFORMS].some((p) => new RegExp(`platform\\s*:\\s*"${p}"`).test(text));
  }

  /** The model's config.pbtxt as text ('' when there is none or it cannot be read). */
  private configText(m: ManagedModel): string {
    try {
      return readFileSync(join(m.modelDir, 'config.pbtxt'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Runs load/unload steps of one model name one after another. */
  private serialize<T>(name: string, step: () => Promise<T>): Promise<T> {
    const next = (this.transitions.get(name) ?? Promise.resolve()).then(step);
    this.transitions.set(name, next.then(() => undefined, () => undefined));
    return next;
  }

  /**
   * Loads a model, or reloads it: the new copy (config and versions read again) is built beside the serving one,
   * warmed, and swapped in when one of its versions is READY; the old copy then drains and unloads, so requests never
   * see a gap. If the new copy fails while the old one serves, the old one stays and the error says why.
   * Resolves the copy that serves now. Call inside `serialize`.
   */
  private async loadFresh(name: string, root: string, modelDir: string): Promise<ManagedModel> {
    const old = this.models.get(name);
    const fresh = new ManagedModel(name, root, modelDir);
    fresh.scanError = old?.scanError;
    if (!old || old.state !== 'READY') this.models.set(name, fresh); // nothing serves: show LOADING meanwhile
    fresh.fingerprint = await modelFingerprint(modelDir).catch(() => '');
    await this.build(fresh);
    if (fresh.state !== 'READY' && old?.state === 'READY') {
      old.reloadError = fresh.reason;
      this.o.log.error({ model: name, reason: fresh.reason }, 'reload failed: the loaded copy keeps serving');
      throw new InferenceError('UNAVAILABLE', `model '${name}' failed to reload (the loaded copy keeps serving): ${fresh.reason}`);
    }
    this.models.set(name, fresh);
    if (old && old !== fresh) {
      await this.stop(old, 'replaced by a reload');
      for (const v of old.versions.keys()) if (!fresh.versions.has(v)) this.o.onGone(name, v);
    }
    return fresh;
  }

  /**
   * Reads the model's config and starts each version its policy serves. Never throws: failures end in UNAVAILABLE
   * with the reason, on the model (config errors) or on the version (start errors), so other versions keep serving.
   */
  private async build(m: ManagedModel): Promise<void> {
    this.o.log.debug({ model: m.name, dir: m.modelDir }, 'loading model');
    m.state = 'LOADING';
    let read: Awaited<ReturnType<typeof readModel>>;
    try {
      read = await readModel(m, this.o.load);
      const split = read.config.parameters[TRAFFIC_PARAMETER]?.string_value;
      m.traffic = split === undefined ? undefined : new TrafficSplit(parseTrafficSplit(split, read.versions));
    } catch (err) {
      m.state = 'UNAVAILABLE';
      m.reason = reasonOf(err);
      this.o.log.error({ model: m.name, reason: m.reason }, 'model failed to load');
      return;
    }
    const { config, versions } = read;
    m.config = config;
    m.metadata = buildMetadata(config, [...versions].sort((a, b) => Number(a) - Number(b)));
    for (const ver of versions) m.versions.set(ver, new ModelVersion(m.name, ver));
    await Promise.all([...m.versions.values()].map(async (v) => {
      try {
        await startVersion(m, v, config, this.o.load);
        v.state = 'READY';
        this.o.onReady(m, v);
        this.o.log.info({ model: m.name, version: v.version, instances: v.instances.length }, 'model ready');
      } catch (err) {
        v.fail(reasonOf(err));
        this.o.log.error({ model: m.name, version: v.version, reason: v.reason }, 'model version failed to load');
      }
    }));
    const ready = [...m.versions.values()].some((v) => v.state === 'READY');
    m.state = ready ? 'READY' : 'UNAVAILABLE';
    m.reason = ready ? '' : [...m.versions.values()].map((v) => `version ${v.version}: ${v.reason}`).join('; ');
  }

  /** Drains every READY version (queued and running requests finish), then unloads its instances. */
  private async stop(m: ManagedModel, reason: string): Promise<void> {
    m.state = 'UNLOADING';
    await Promise.all([...m.versions.values()].map(async (v) => {
      if (v.state !== 'READY') return;
      v.state = 'UNLOADING';
      await stopVersion(v);
      v.fail(reason);
    }));
    m.state = 'UNAVAILABLE';
    m.reason = reason;
  }

  /** The repository API's load: a model already known, or one found in the repositories now. Loads an ensemble's steps first. */
  async load(name: string): Promise<void> {
    if (this.closed) throw new InferenceError('UNAVAILABLE', 'the server is shutting down');
    let root = this.models.get(name)?.root;
    if (root === undefined) {
      root = this.o.repositories.find((r) => {
        const d = join(r, name);
        return existsSync(d) && statSync(d).isDirectory();
      });
      if (root === undefined) throw notFound(`no model '${name}' in the model repositories`);
    }
    const modelRoot = root;
    const known = this.models.get(name);
    if (known && this.isComposite(known)) {
      for (const step of this.withSteps([name]).filter((n) => n !== name)) {
        if (this.models.get(step)?.state !== 'READY') await this.load(step);
      }
    }
    const fresh = await this.serialize(name, () => this.loadFresh(name, modelRoot, known?.modelDir ?? resolve(modelRoot, name)));
    fresh.wanted = true;
    if (fresh.state !== 'READY') throw new InferenceError('UNAVAILABLE', `model '${name}' failed to load: ${fresh.reason}`);
  }

  /** The repository API's unload: finishes the model's queued and running requests, then frees its instances. */
  async unload(name: string): Promise<void> {
    if (!this.models.has(name)) throw notFound(`unknown model '${name}'`);
    await this.serialize(name, async () => {
      const m = this.models.get(name)!;
      m.wanted = false;
      const served = [...m.versions.values()].filter((v) => v.state === 'READY').map((v) => v.version);
      await this.stop(m, 'unloaded');
      for (const v of served) this.o.onGone(name, v);
    });
    this.o.log.info({ model: name }, 'model unloaded');
  }

  /** Stops polling and unloads every model (queued and running requests finish first). */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.pollTimer);
    await this.polling;
    await Promise.all([...this.models.keys()].map((name) => this.serialize(name, () => this.stop(this.models.get(name)!, 'server closed'))));
  }

  // --- Poll mode ---

  private schedulePoll(): void {
    if (this.closed) return;
    this.pollTimer = setTimeout(() => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        this.schedulePoll();
      });
    }, this.o.pollSecs * 1000);
    this.pollTimer.unref();
  }

  /**
   * One rescan (poll mode; also callable directly): new models load, models whose folder is gone unload and leave
   * the index, models whose folder changed (config, version folders, files) reload. A change that fails to load
   * leaves a serving copy serving, with the reason in the index and the log, and is not retried until the folder
   * changes again.
   */
  async poll(): Promise<void> {
    let found;
    try {
      found = await scanRepositories([...this.o.repositories]);
    } catch (err) {
      this.o.log.error({ err }, 'poll: cannot scan the model repositories');
      return;
    }
    const names = new Set(found.map((f) => f.name));
    for (const [name, m] of this.models) {
      if (names.has(name)) continue;
      this.o.log.info({ model: name }, 'poll: model folder removed: unloading');
      await this.unload(name).catch((err) => this.o.log.error({ model: name, err }, 'poll: unload failed'));
      if (this.models.get(name) === m) this.models.delete(name);
    }
    const changed: ManagedModel[] = [];
    for (const f of found) {
      if (this.closed) return;
      const m = this.models.get(f.name);
      const print = await modelFingerprint(f.modelDir).catch(() => '');
      if (m && (m.fingerprint === print || m.attemptedFingerprint === print)) continue;
      if (m && m.modelDir !== f.modelDir) continue; // the same name found in another root: leave the known one
      const entry = m ?? new ManagedModel(f.name, f.root, f.modelDir);
      entry.scanError = f.error;
      entry.attemptedFingerprint = print;
      if (!m) this.models.set(f.name, entry);
      this.o.log.info({ model: f.name }, m ? 'poll: model folder changed: reloading' : 'poll: new model: loading');
      changed.push(entry);
    }
    for (const m of changed) {
      try {
        await this.load(m.name);
      } catch {
        // Logged by loadFresh (a serving copy kept) or shown in the index (nothing serves).
      }
    }
  }
}
