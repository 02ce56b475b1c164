/**
 * Canary traffic between versions of one model: the config parameter `version_traffic` ("1:90,2:10": version:weight
 * pairs) routes requests that name no version by weight. A request with an id always lands on the same version
 * (a hash of the id picks it), so a client can pin itself; requests without one follow a smooth weighted round robin,
 * so any window of N requests is within one request per version of the weights (no randomness to wait out).
 */

/** The config parameter that sets a model's split. */
export const TRAFFIC_PARAMETER = 'version_traffic';

export interface TrafficShare {
  readonly version: string;
  readonly weight: number;
}

/** Parses "1:90,2:10" against the versions the policy serves; throws an Error saying what is wrong. */
export function parseTrafficSplit(text: string, served: readonly string[]): TrafficShare[] {
  const shares: TrafficShare[] = [];
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(\d+)\s*:\s*(\d+)$/.exec(part);
    if (!m) throw new Error(`${TRAFFIC_PARAMETER}: '${part}' is not version:weight (e.g. "1:90,2:10")`);
    const version = String(Number(m[1]));
    if (!served.includes(version)) {
      throw new Error(`${TRAFFIC_PARAMETER}: version ${version} is not served (the version policy serves ${served.join(', ') || 'none'})`);
    }
    if (shares.some((s) => s.version === version)) throw new Error(`${TRAFFIC_PARAMETER}: version ${version} is listed twice`);
    shares.push({ version, weight: Number(m[2]) });
  }
  if (shares.length === 0) throw new Error(`${TRAFFIC_PARAMETER} lists no version`);
  if (shares.every((s) => s.weight === 0)) throw new Error(`${TRAFFIC_PARAMETER}: every weight is 0`);
  return shares;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: cheap and stable across processes and restarts. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Picks a version for each request by the split, among the versions the caller says are READY (a canary that fails
 * or unloads takes no traffic; the others share its weight by theirs). Undefined when no version of the split is READY.
 */
export class TrafficSplit {
  private readonly current: number[];

  constructor(readonly shares: readonly TrafficShare[]) {
    this.current = shares.map(() => 0);
  }

  pick(id: string | undefined, isReady: (version: string) => boolean): string | undefined {
    let total = 0;
    for (const s of this.shares) if (s.weight > 0 && isReady(s.version)) total += s.weight;
    if (total === 0) return undefined;
    if (id !== undefined && id !== '') {
      // The id's point on [0, total) falls in one version's stretch of the weights.
      let point = hash32(id) % total;
      for (const s of this.shares) {
        if (s.weight === 0 || !isReady(s.version)) continue;
        if (point < s.weight) return s.version;
        point -= s.weight;
      }
    }
    // Smooth weighted round robin (as nginx's upstream): each share gains its weight; the largest is picked and pays
    // the total back.
    let best = -1;
    for (let i = 0; i < this.shares.length; i++) {
      const s = this.shares[i];
      if (s.weight === 0 || !isReady(s.version)) continue;
      this.current[i] += s.weight;
      if (best < 0 || this.current[i] > this.current[best]) best = i;
    }
    this.current[best] -= total;
    return this.shares[best].version;
  }
}
