/** A graph pass: rewrites a model in place and says how many rewrites it made (0: nothing left to do). */
import type { OnnxModel } from '../onnx-proto/index.js';

export interface GraphPass {
  readonly name: string;
  run(model: OnnxModel): Promise<number> | number;
}

/** Runs passes in order, repeating the list until a round changes nothing (at most `maxRounds`). */
export async function runPasses(model: OnnxModel, passes: readonly GraphPass[], maxRounds = 8): Promise<Map<string, number>> {
  const counts = new Map<string, number>(passes.map((p) => [p.name, 0]));
  for (let round = 0; round < maxRounds; round++) {
    let changed = 0;
    for (const p of passes) {
      const n = await p.run(model);
      counts.set(p.name, (counts.get(p.name) ?? 0) + n);
      changed += n;
    }
    if (changed === 0) break;
  }
  return counts;
}
