import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Command,
  type DecisionInput,
  decide,
  foldCommits,
  inputFromEvent,
  type RunState,
  replayCommits,
  type WorkflowDefinition,
} from '../../../shared/engine/index.js';
import type { Commit, SignalEvent } from '../../../shared/history/events.js';
import { counter, kid, parent } from '../../fixtures/lifecycle/workflows.js';
import {
  compensatingWorkflow,
  fanoutWorkflow,
  mailboxWorkflow,
  orderWorkflow,
  reminderWorkflow,
  retryWorkflow,
  sequenceWorkflow,
} from '../../fixtures/workflows.js';

/** Sample machines with the signals worth throwing at them (including ones they never handle). */
const SAMPLES: [WorkflowDefinition, unknown, SignalEvent[]][] = [
  [orderWorkflow, { orderId: 'o', amount: 5, approvalTimeoutMs: 300 }, [{ type: 'approve' }, { type: 'reject' }]],
  [retryWorkflow, undefined, [{ type: 'restart' }]],
  [
    mailboxWorkflow,
    undefined,
    [{ type: 'note', text: 'a' }, { type: 'note', text: 'b' }, { type: 'work' }, { type: 'finish' }],
  ],
  [reminderWorkflow, undefined, [{ type: 'snooze' }, { type: 'close' }, { type: 'remind' }]],
  [fanoutWorkflow, undefined, []],
  [compensatingWorkflow, undefined, []],
  [sequenceWorkflow, undefined, []],
  // Run lifecycle: child runs under each parent close policy, continue-as-new, a child run.
  [parent, { policy: 'terminate' }, [{ type: 'leave' }, { type: 'stop' }]],
  [parent, { policy: 'requestCancel' }, [{ type: 'leave' }, { type: 'stop' }]],
  [parent, { policy: 'abandon' }, [{ type: 'stop' }]],
  [counter, { generation: 1, total: 0 }, []],
  // (not kid's 'fail': a thrown error's stack differs between the live run and its replay)
  [kid, { label: 'k' }, [{ type: 'finish', value: 1 }]],
];

type Move =
  | { k: 'complete'; pick: number; output: number }
  | { k: 'fail'; pick: number }
  | { k: 'fire'; pick: number }
  | { k: 'staleResult'; pick: number }
  | { k: 'staleTimer'; pick: number }
  | { k: 'signal'; pick: number }
  | { k: 'unknownSignal' }
  | { k: 'cancel' }
  | { k: 'terminate' }
  | { k: 'childDone'; pick: number; output: number }
  | { k: 'childFail'; pick: number }
  | { k: 'tick'; ms: number };

const move: fc.Arbitrary<Move> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('complete' as const), pick: fc.nat(), output: fc.integer() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('fail' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('fire' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('staleResult' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('staleTimer' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('signal' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ k: 'unknownSignal' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'cancel' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'terminate' as const }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('childDone' as const), pick: fc.nat(), output: fc.integer() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('childFail' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 400 }) }) },
);

/** Turns a move into an input for the current state, or undefined when it makes no sense now. */
function toInput(m: Move, state: RunState, now: number, signals: SignalEvent[]): DecisionInput | undefined {
  const activities = Object.values(state.activities).sort((a, b) => a.activitySeq - b.activitySeq);
  const timers = Object.values(state.timers).sort((a, b) => a.timerSeq - b.timerSeq);
  const live = new Set([...activities.map((a) => a.activitySeq), ...timers.map((t) => t.timerSeq)]);
  const dead = Array.from({ length: state.nextSeq - 1 }, (_, i) => i + 1).filter((s) => !live.has(s));
  switch (m.k) {
    case 'complete': {
      const a = activities[m.pick % Math.max(1, activities.length)];
      return a && { kind: 'activityCompleted', at: now, activitySeq: a.activitySeq, output: m.output };
    }
    case 'fail': {
      const a = activities[m.pick % Math.max(1, activities.length)];
      return (
        a && { kind: 'activityFailed', at: now, activitySeq: a.activitySeq, error: { name: 'Error', message: 'x' } }
      );
    }
    case 'fire': {
      const t = timers[m.pick % Math.max(1, timers.length)];
      return t && { kind: 'timerFired', at: Math.max(now, t.fireAt), timerSeq: t.timerSeq };
    }
    case 'staleResult': {
      const seq = dead[m.pick % Math.max(1, dead.length)];
      return seq === undefined ? undefined : { kind: 'activityCompleted', at: now, activitySeq: seq, output: 'late' };
    }
    case 'staleTimer': {
      const seq = dead[m.pick % Math.max(1, dead.length)];
      return seq === undefined ? undefined : { kind: 'timerFired', at: now, timerSeq: seq };
    }
    case 'signal': {
      const event = signals[m.pick % Math.max(1, signals.length)];
      return event && { kind: 'signal', at: now, event };
    }
    case 'unknownSignal':
      return { kind: 'signal', at: now, event: { type: 'neverHandled' } };
    case 'cancel':
      return { kind: 'cancel', at: now, reason: 'prop' };
    case 'terminate':
      return { kind: 'terminate', at: now, reason: 'prop' };
    case 'childDone':
    case 'childFail': {
      // Any seq handed out so far: an open child's, or a stale one (a detached child, an activity's).
      const seq = (m.pick % Math.max(1, state.nextSeq - 1)) + 1;
      if (state.nextSeq === 1) return undefined;
      return m.k === 'childDone'
        ? { kind: 'childCompleted', at: now, childSeq: seq, output: m.output }
        : { kind: 'childFailed', at: now, childSeq: seq, error: { name: 'Error', message: 'child' } };
    }
    case 'tick':
      return undefined;
  }
}

/** Replays history from scratch, collecting every command as the router would publish them. */
function replayWithCommands(def: WorkflowDefinition, history: Commit[]): { state: RunState; commands: Command[] } {
  let state: RunState | undefined;
  const commands: Command[] = [];
  for (const c of history) {
    const first = c.events[0]!;
    const d = decide(def, state, inputFromEvent(first));
    commands.push(...d.commands);
    state = d.state;
  }
  return { state: state!, commands };
}

describe('property: replaying recorded history reproduces the live run', () => {
  it('at every step, for random interleavings of results, signals, firings, cancels, terminates and child outcomes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: SAMPLES.length - 1 }),
        fc.array(move, { maxLength: 30 }),
        fc.nat(),
        (sample, moves, resumePick) => {
          const [def, input, signals] = SAMPLES[sample]!;
          let now = 1_000;
          let d = decide(def, undefined, { kind: 'start', at: now, workflowId: 'w', runId: 'r', input });
          const history: Commit[] = [{ runId: 'r', workflowId: 'w', seq: 1, events: d.events }];
          const commands: Command[] = [...d.commands];
          const states: RunState[] = [d.state];
          // The live path persists its state as the store would (JSON-safe), every step.
          let state: RunState = JSON.parse(JSON.stringify(d.state)) as RunState;
          for (const m of moves) {
            if (m.k === 'tick') {
              now += m.ms;
              continue;
            }
            const next = toInput(m, state, now, signals);
            if (!next) continue;
            now = next.at;
            d = decide(def, state, next);
            if (d.events.length === 0) {
              expect(state.status).not.toBe('running');
              continue;
            }
            history.push({ runId: 'r', workflowId: 'w', seq: d.state.lastSeq, events: d.events });
            commands.push(...d.commands);
            states.push(d.state);
            state = JSON.parse(JSON.stringify(d.state)) as RunState;

            const replayed = replayCommits(def, history);
            expect(replayed).toEqual(d.state);
            const from = states[resumePick % states.length]!;
            expect(foldCommits(def, history, { from: JSON.parse(JSON.stringify(from)) as RunState })).toEqual(d.state);
          }
          const again = replayWithCommands(def, history);
          expect(again.commands).toEqual(commands);
          expect(again.state).toEqual(d.state);
          // Seqs are unique and increasing across activities and timers.
          const seqs = history.flatMap((c) =>
            c.events.flatMap((e) =>
              e.type === 'ActivityScheduled' ? [e.activitySeq] : e.type === 'TimerScheduled' ? [e.timerSeq] : [],
            ),
          );
          expect(new Set(seqs).size).toBe(seqs.length);
          expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
        },
      ),
      { numRuns: 300 },
    );
  });
});
