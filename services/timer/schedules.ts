/**
 * Schedules, fired by the timer services. Every `pollMs` each timer service reads the schedules
 * (a small collection: specs and states, two reads per page) and, for each one not paused, acts
 * on the ticks that came due since the last one handled: starts the tick's run, or skips, keeps
 * or ends runs as the overlap policy says (shared/schedules/plan.ts).
 *
 * Exactly once per tick, with any number of timer services and crashes: a tick's run has a
 * workflowId made of the schedule id and the tick (`tickWorkflowId`), and is started with
 * `rejectDuplicate` and a message id of its own, so a tick started twice (two services looking at
 * once, or one looking again after dying before it saved its progress) is one run. The state
 * document only records progress; losing a write of it repeats work, never a run.
 */
import type { Bus } from '../../shared/bus/connect.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';
import {
  fireTimeOf,
  isMissed,
  type PreviousRun,
  planTick,
  type ResolvedScheduleSpec,
  SCHEDULE_DEFAULTS,
  type ScheduleRecord,
  type ScheduleRunRef,
  type ScheduleState,
  ticksAfter,
  tickWorkflowId,
} from '../../shared/schedules/index.js';
import { RECENT_TICKS } from '../../shared/schedules/store.js';
import type { Store } from '../../shared/store/types.js';

/** Ticks one schedule acts on per pass; more wait for the next pass (a long catch-up). */
const TICKS_PER_PASS = 100;
/** Missed ticks counted at most per pass (the rest are passed over uncounted). */
const MISSED_COUNTED = 10_000;
/**
 * How long a run the schedule just started counts as open although its workflowId is not claimed
 * yet (the start is on its way to a router). One still unclaimed after this was refused.
 */
const START_GRACE_MS = 60_000;
/** Schedules read per page. */
const PAGE = 500;

/** What a ScheduleRunner works with. */
export interface ScheduleRunnerDeps {
  bus: Bus;
  store: Store;
  clock: Clock;
  log: Logger;
  /** How often the schedules are looked at. @default 1000 */
  pollMs?: number;
}

/** How a run came to be started outside the schedule's own ticks. */
export type ManualStart = 'triggered' | 'backfilled';

/** Fires schedules' ticks; one per timer service. */
export class ScheduleRunner {
  readonly #d: ScheduleRunnerDeps;
  readonly #stopping = new AbortController();
  #wake: (() => void) | undefined;

  constructor(d: ScheduleRunnerDeps) {
    this.#d = d;
  }

  /** Passes over the schedules every pollMs until stop(); a failed pass is logged and retried next time. */
  async run(): Promise<void> {
    const signal = this.#stopping.signal;
    while (!signal.aborted) {
      await this.pass().catch((err: unknown) => this.#d.log.warn('a pass over the schedules failed', { err }));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.#d.pollMs ?? 1_000);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Looks at every schedule now (also after a create or update, so its first tick is not late). */
  wake(): void {
    this.#wake?.();
  }

  stop(): void {
    this.#stopping.abort();
    this.#wake?.();
  }

  /** One pass over every schedule. */
  async pass(): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.#d.store.schedules.list({ limit: PAGE, ...(cursor ? { cursor } : {}) });
      for (const rec of page.items) {
        if (this.#stopping.signal.aborted) return;
        await this.handle(rec).catch((err: unknown) =>
          this.#d.log.warn('handling a schedule failed; the next pass tries again', { scheduleId: rec.id, err }),
        );
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /** Acts on a schedule's due ticks and saves its progress. */
  async handle(rec: ScheduleRecord): Promise<void> {
    const spec = resolved(rec.spec);
    if (spec.paused) return;
    const now = this.#d.clock.now();
    const st: ScheduleState = structuredClone(rec.state);
    let changed = this.#passMissed(rec.id, spec, st, now, rec.createdAt);
    let previous: PreviousRun | undefined;
    for (const tick of ticksAfter(spec, st.lastTick ?? rec.createdAt, { limit: TICKS_PER_PASS, until: now })) {
      if (fireTimeOf(rec.id, spec, tick) > now) break;
      changed = true;
      previous ??= await this.#previous(st, now);
      const action = planTick(spec.overlap, previous, st.buffered !== undefined);
      if (action === 'skip') {
        st.skipped++;
        remember(st, { tick, action: 'skipped', at: now });
      } else if (action === 'buffer') {
        st.buffered = tick;
        remember(st, { tick, action: 'buffered', at: now });
      } else {
        if (action !== 'start' && st.lastWorkflowId) {
          await this.#end(st.lastWorkflowId, action === 'cancelThenStart' ? 'cancel' : 'terminate', rec.id, tick);
        }
        await this.#startTick(rec.id, spec, st, tick, 'started', now);
        previous = 'open';
      }
      st.lastTick = tick;
    }
    if (st.buffered !== undefined && (await this.#previous(st, now)) !== 'open') {
      const tick = st.buffered;
      delete st.buffered;
      await this.#startTick(rec.id, spec, st, tick, 'started', now);
      changed = true;
    }
    if (changed) await this.#d.store.schedules.saveState(rec.id, st);
  }

  /**
   * Starts runs outside the ticks' own course: trigger-now (one run at `ticks[0]`, now) and
   * backfill (a run per tick of a range; ticks already started stay one run). Overlap does not
   * apply: asking is the decision. Returns the workflowIds.
   */
  async startManual(rec: ScheduleRecord, ticks: number[], how: ManualStart): Promise<string[]> {
    const spec = resolved(rec.spec);
    const now = this.#d.clock.now();
    const st: ScheduleState = structuredClone(rec.state);
    const ids: string[] = [];
    for (const tick of ticks) ids.push(await this.#startTick(rec.id, spec, st, tick, how, now));
    await this.#d.store.schedules.saveState(rec.id, st);
    return ids;
  }

  /** Ticks past the catch-up window are counted as missed and passed over in one step. */
  #passMissed(id: string, spec: ResolvedScheduleSpec, st: ScheduleState, now: number, createdAt: number): boolean {
    const horizon = now - spec.catchupWindowMs;
    const from = st.lastTick ?? createdAt;
    if (from >= horizon) return false;
    const missed = ticksAfter(spec, from, { limit: MISSED_COUNTED, until: horizon - 1 });
    const last = missed[missed.length - 1];
    if (last === undefined || !isMissed(last, now, spec.catchupWindowMs)) return false;
    st.missed += missed.length;
    st.lastTick = last;
    this.#d.log.warn('schedule ticks missed (past the catch-up window)', { scheduleId: id, missed: missed.length });
    return true;
  }

  /**
   * The run the schedule started last: open, closed, or none. A run that holds its workflowId
   * but has no summary yet is open (a closed run's summary is written before its completion is
   * published); one not even claimed a minute after its start was published was refused.
   */
  async #previous(st: ScheduleState, now: number): Promise<PreviousRun> {
    if (!st.lastWorkflowId) return 'none';
    const { store } = this.#d;
    const holder = await store.workflowIdHolder(st.lastWorkflowId);
    if (!holder) return now - (st.lastStartedAt ?? 0) < START_GRACE_MS ? 'open' : 'none';
    const run = await store.getRun(holder.runId);
    return run === undefined || run.status === 'running' ? 'open' : 'closed';
  }

  /** Publishes the start of a tick's run (idempotent, see the module comment); returns its workflowId. */
  async #startTick(
    id: string,
    spec: ResolvedScheduleSpec,
    st: ScheduleState,
    tick: number,
    action: ScheduleRunRef['action'],
    now: number,
  ): Promise<string> {
    const { bus } = this.#d;
    const workflowId = tickWorkflowId(id, spec, tick);
    const body: Record<string, unknown> = {
      workflowId,
      idReusePolicy: 'rejectDuplicate',
      memo: { ...(spec.workflow.memo ?? {}), schedule: { id, tick } },
    };
    if (spec.workflow.input !== undefined) body.input = spec.workflow.input;
    bus.publishCore(bus.subjects.start(spec.workflow.type), body, {
      headers: { 'Nats-Msg-Id': `schedule:${id}:${tick}` },
    });
    await bus.nc.flush();
    st.lastWorkflowId = workflowId;
    st.lastStartedAt = now;
    remember(st, { tick, action, workflowId, at: now });
    this.#d.log.info('schedule started a run', { scheduleId: id, workflowId, tick, how: action });
    return workflowId;
  }

  /** Cancels or terminates the open run before a tick's run replaces it. */
  async #end(workflowId: string, how: 'cancel' | 'terminate', id: string, tick: number): Promise<void> {
    const { bus } = this.#d;
    const subject = how === 'cancel' ? bus.subjects.cancel(workflowId) : bus.subjects.terminate(workflowId);
    const reason = `schedule ${id}: the tick of ${new Date(tick).toISOString()} replaces it`;
    bus.publishCore(subject, { reason }, { headers: { 'Nats-Msg-Id': `schedule:${id}:${tick}:${how}` } });
    await bus.nc.flush();
  }
}

/** A stored spec with its defaults (specs are stored as given, validated). */
export function resolved(spec: ScheduleRecord['spec']): ResolvedScheduleSpec {
  const { timezone: _tz, ...defaults } = SCHEDULE_DEFAULTS;
  return { ...defaults, ...spec };
}

function remember(st: ScheduleState, ref: ScheduleRunRef): void {
  st.recent.push(ref);
  if (st.recent.length > RECENT_TICKS) st.recent.splice(0, st.recent.length - RECENT_TICKS);
}
