import { RunDecider } from '../../../services/router/decider.js';
import type { OutboundMessage } from '../../../services/router/outbox.js';
import { WorkflowRegistry } from '../../../shared/engine/index.js';
import { silentLogger } from '../../../shared/log.js';
import { subjects } from '../../../shared/names.js';
import { createMemoryStore } from '../../../shared/store/memory-store.js';
import type { Store } from '../../../shared/store/types.js';
import { sequenceWorkflow, stepsWorkflow as steps } from '../../fixtures/workflows.js';

/** The router tests' workflow (tests/fixtures/workflows.ts), under its short name. */
export { steps };

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
}

/** What a test works with: a decider, its store and clock, and what it published. */
export interface DeciderBench {
  decider: RunDecider;
  store: Store;
  clock: ManualClock;
  published: OutboundMessage[];
  /** When set, publishing throws (a NATS outage, or a crash before the publish). */
  failPublish: { on: boolean };
  /** Another decider (another router) over the same store. */
  another(): RunDecider;
}

/** A bench over a fresh memory store, deciding `steps` and `sequence`. */
export function deciderBench(opts: { summaryDelayMs?: number } = {}): DeciderBench {
  const clock = new ManualClock();
  const store = createMemoryStore({ now: () => clock.now() });
  const published: OutboundMessage[] = [];
  const failPublish = { on: false };
  const make = (): RunDecider =>
    new RunDecider({
      store,
      registry: new WorkflowRegistry([steps, sequenceWorkflow]),
      subjects: subjects('t'),
      log: silentLogger,
      clock,
      summaryDelayMs: opts.summaryDelayMs ?? 0,
      publish: async (m) => {
        if (failPublish.on) throw new Error('publish failed (test)');
        published.push(m);
      },
    });
  return { decider: make(), store, clock, published, failPublish, another: make };
}

/** Every commit of a run, in order. */
export async function historyOf(store: Store, runId: string) {
  const out = [];
  for await (const c of store.loadHistory(runId)) out.push(c);
  return out;
}
