/**
 * The order in which a server loads its ensembles at start-up: an ensemble plans against the configs of the models
 * it uses, so those must be loaded first — ensembles of ensembles included.
 */

export interface EnsembleUses {
  readonly name: string;
  /** The models its steps name. */
  readonly uses: readonly string[];
}

/**
 * Rounds to load one after another; the ensembles of one round may load concurrently. An ensemble comes after
 * every ensemble it uses. Ensembles on a cycle (or waiting for one) go in a last round, where their plans fail
 * with an error naming the step.
 */
export function ensembleLoadRounds(ensembles: readonly EnsembleUses[]): string[][] {
  const pending = new Map(ensembles.map((e) => [e.name, e.uses]));
  const rounds: string[][] = [];
  while (pending.size > 0) {
    const round = [...pending].filter(([, uses]) => !uses.some((u) => pending.has(u))).map(([name]) => name);
    if (round.length === 0) {
      rounds.push([...pending.keys()]);
      break;
    }
    for (const name of round) pending.delete(name);
    rounds.push(round);
  }
  return rounds;
}

/** The `model_name` values of an ensemble's config.pbtxt text, read without parsing the whole config. */
export function stepModelNames(configText: string): string[] {
  const names = new Set<string>();
  for (const line of configText.split('\n')) {
    const code = line.replace(/#.*$/, '');
    for (const m of code.matchAll(/model_name\s*:\s*"([^"]*)"/g)) names.add(m[1]);
  }
  return [...names];
}
