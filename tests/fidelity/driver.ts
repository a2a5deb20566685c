/**
 * Runs one fidelity case both ways, plain XState first (plain.ts), then through the service
 * processes (squall.ts), and returns the three outcomes the test compares: plain XState's, the
 * one Squall must reach (plain XState's with the case's deliberate differences applied), and
 * Squall's.
 */
import type { SquallClient } from '../../shared/client/index.js';
import type { FidelityCase, Outcome } from './case.js';
import { runPlain } from './plain.js';
import { runSquall } from './squall.js';

/** The outcomes of one case. */
export interface CaseResult {
  plain: Outcome;
  expected: Outcome;
  squall: Outcome;
}

/** Runs `c` under plain XState and through the services behind `client`. */
export async function runCase(client: SquallClient, c: FidelityCase): Promise<CaseResult> {
  const plain = await runPlain(c);
  const expected = (c.differences ?? []).reduce((o, d) => d.squall(o), plain);
  const squall = await runSquall(client, c, expected);
  return { plain, expected, squall };
}
