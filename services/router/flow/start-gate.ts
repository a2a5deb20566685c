/**
 * The router's start gate: what a start with flow options does before it is decided. Debounce
 * holds a start for its window and supersedes all but the key's last; a singleton start, or a
 * start of a workflow type with a `concurrency` option, takes one of its key's run slots or
 * waits in line (`queue`) or gives up (`skip`). A held start is redelivered later (nak with a
 * delay), so it stays durable in the inbox while it waits. The documents are the flow stream's
 * (shared/flow/state.ts); starts without these options never reach this file.
 */
import type { Clock } from '../../../shared/clock.js';
import type { WorkflowRegistry } from '../../../shared/engine/registry.js';
import { type SquallError, StartSkippedError, StartSupersededError } from '../../../shared/errors.js';
import { type ConcurrencyOption, flowKeyOf } from '../../../shared/flow/spec.js';
import {
  type DebounceDoc,
  debounceStep,
  type HolderState,
  queuedStartDelay,
  type RunHolder,
  type RunSlotStep,
  type RunSlotsDoc,
  runSlotStep,
} from '../../../shared/flow/starts.js';
import { type FlowBus, type FlowDocKind, FlowState, flowSubject } from '../../../shared/flow/state.js';
import type { Store } from '../../../shared/store/types.js';
import type { StartInput } from '../inputs.js';

/** What the gate needs of the router. */
export interface StartGateDeps {
  bus: FlowBus;
  store: Pick<Store, 'workflowIdHolder' | 'getRun'>;
  registry: WorkflowRegistry;
  clock: Clock;
}

/** The start message as the gate sees it. */
export interface GatedStart {
  /** The inbox stream sequence: orders starts (last for debounce, FIFO for queues). */
  seq: number;
  /** When the inbox stored it (the server's clock), ms. */
  at: number;
  /** Inbox epoch/sequence: the same for every delivery of this start. */
  startKey: string;
  deliveryCount: number;
}

/** Go on and decide the start; hold it (redeliver after `delayMs`); or refuse it with `error`. */
export type GateStep = { kind: 'pass' } | { kind: 'hold'; delayMs: number } | { kind: 'refuse'; error: SquallError };

/** One per router. */
export class StartGate {
  readonly #state: FlowState;
  /** Workflow types with a `concurrency` option (the latest version's). */
  readonly #limited = new Map<string, ConcurrencyOption>();

  constructor(private readonly d: StartGateDeps) {
    this.#state = new FlowState(d.bus);
    for (const name of d.registry.names()) {
      const c = d.registry.latest(name)?.concurrency;
      if (c) this.#limited.set(name, c);
    }
  }

  /** Whether `input` goes through the gate at all: a Map lookup and two field reads. */
  applies(input: StartInput): boolean {
    return input.flow !== undefined || (this.#limited.size > 0 && this.#limited.has(input.workflowType));
  }

  /** What to do with the start now. Throws only for trouble reaching NATS or the store (redeliver). */
  async check(input: StartInput, m: GatedStart): Promise<GateStep> {
    const type = input.workflowType;
    const workflowId = input.workflowId ?? `seq-${m.seq}`;
    const debounce = input.flow?.debounce;
    if (debounce) {
      const subject = flowSubject(this.d.bus.prefix, 'debounce', type, debounce.key);
      const now = this.d.clock.now();
      const step = await this.#state.update<DebounceDoc, ReturnType<typeof debounceStep>>(subject, (cur) => {
        const s = debounceStep(cur, { seq: m.seq, at: m.at, workflowId }, debounce.windowMs, now);
        return s.kind === 'record' ? { value: s.doc, result: s } : { skip: true, result: s };
      });
      if (step.kind === 'superseded') {
        return refuse(
          new StartSupersededError(
            `start of ${type} ${workflowId} was superseded by a later start (${step.by}) with debounce key ${JSON.stringify(debounce.key)}`,
            { details: { workflowId, supersededBy: step.by, debounceKey: debounce.key } },
          ),
        );
      }
      if (step.kind !== 'run') return { kind: 'hold', delayMs: step.holdMs };
    }
    const singleton = input.flow?.singleton;
    if (singleton) {
      const r = await this.#takeRunSlot('singleton', type, singleton.key, 1, singleton.mode === 'queue', workflowId, m);
      if (r.kind === 'full') {
        const holder = r.holders[0]?.workflowId ?? 'unknown';
        return refuse(
          new StartSkippedError(
            `start of ${type} ${workflowId} skipped: run ${holder} with singleton key ${JSON.stringify(singleton.key)} is open`,
            {
              details: { workflowId, singletonKey: singleton.key, openWorkflowId: holder },
            },
          ),
        );
      }
      if (r.kind === 'wait') return { kind: 'hold', delayMs: queuedStartDelay(m.deliveryCount) };
    }
    const limit = this.#limited.get(type);
    if (limit) {
      const key = flowKeyOf(
        limit.key as ((i: unknown) => string) | undefined,
        input.input,
        `workflow ${type} concurrency`,
      );
      const r = await this.#takeRunSlot('runs', type, key, limit.limit, true, workflowId, m);
      if (r.kind !== 'run') return { kind: 'hold', delayMs: queuedStartDelay(m.deliveryCount) };
    }
    return { kind: 'pass' };
  }

  /** Takes a run slot of `key` (compare-and-set), reading the holders' runs when the slots are full. */
  async #takeRunSlot(
    kind: FlowDocKind,
    type: string,
    key: string,
    limit: number,
    queue: boolean,
    workflowId: string,
    m: GatedStart,
  ): Promise<Exclude<RunSlotStep, { kind: 'check' }>> {
    const subject = flowSubject(this.d.bus.prefix, kind, type, key);
    const states = new Map<string, HolderState>();
    const me = { workflowId, startKey: m.startKey, seq: m.seq, queue };
    for (;;) {
      const cur = await this.#state.read<RunSlotsDoc>(subject);
      const step = runSlotStep(cur.value, me, limit, this.d.clock.now(), states);
      if (step.kind === 'check') {
        for (const h of step.holders) states.set(h.startKey, await this.#holderState(h));
        continue;
      }
      if (step.kind === 'full' || !step.changed) return step;
      if (await this.#state.write(subject, step.doc, cur.seq)) return step;
    }
  }

  async #holderState(h: RunHolder): Promise<HolderState> {
    const holder = await this.d.store.workflowIdHolder(h.workflowId);
    if (!holder) return 'absent';
    const run = await this.d.store.getRun(holder.runId);
    return run === undefined || run.status === 'running' ? 'open' : 'closed';
  }
}

function refuse(error: SquallError): GateStep {
  return { kind: 'refuse', error };
}
