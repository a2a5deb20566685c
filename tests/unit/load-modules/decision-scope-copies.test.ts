/**
 * Two copies of the engine's decision scope in one process, as under the CLI: the services' copy
 * opens the decision, the copy a user's workflow module imported (the installed `squall`, or one
 * tsx's scoped import loaded again) answers `now()` and runs `sideEffect()`. They must agree.
 */
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { describe, expect, it } from 'vitest';
import * as ours from '../../../shared/engine/decision-context.js';
import { OutsideDecisionError } from '../../../shared/errors.js';

type DecisionContext = typeof ours;

const MODULE = new URL('../../../shared/engine/decision-context.ts', import.meta.url).href;

/** A second, separately evaluated copy of decision-context.ts (tsx's scoped import). */
async function secondCopy(): Promise<DecisionContext> {
  return (await tsImport(MODULE, fileURLToPath(import.meta.url))) as DecisionContext;
}

describe('decision scope shared by two copies of the module', () => {
  it('loads a distinct copy (or this test would prove nothing)', async () => {
    const theirs = await secondCopy();
    expect(theirs.now).not.toBe(ours.now);
    expect(theirs.withDecisionScope).not.toBe(ours.withDecisionScope);
  });

  it('answers now() in one copy inside a decision the other copy opened, both ways', async () => {
    const theirs = await secondCopy();
    expect(ours.withDecisionScope({ at: 1234 }, () => theirs.now())).toBe(1234);
    expect(theirs.withDecisionScope({ at: 5678 }, () => ours.now())).toBe(5678);
  });

  it("runs the other copy's sideEffect action through the open decision's recorder", async () => {
    const theirs = await secondCopy();
    const recorded: [string, unknown][] = [];
    const action = theirs.sideEffect('token', () => 'abc');
    ours.withDecisionScope({ at: 1, sideEffect: (id, fn) => recorded.push([id, fn()]) }, () => action());
    expect(recorded).toEqual([['token', 'abc']]);
  });

  it('restores the outer decision across copies and is empty again afterwards', async () => {
    const theirs = await secondCopy();
    const seen = ours.withDecisionScope({ at: 1 }, () => [
      theirs.withDecisionScope({ at: 2 }, () => ours.now()),
      theirs.now(),
    ]);
    expect(seen).toEqual([2, 1]);
    expect(() => theirs.now()).toThrow(/only defined while a workflow decision runs/);
    expect(() => ours.now()).toThrow(OutsideDecisionError);
  });
});
