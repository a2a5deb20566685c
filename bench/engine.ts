/**
 * Engine benchmark: decisions per second for a 20-state workflow, encoded history bytes per event,
 * and rebuilding a run from a 10,000-event history versus resuming from its stored snapshot.
 * Run: `npx tsx bench/engine.ts`. Prints one JSON object; asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import { type AnyStateMachine, assign, setup } from 'xstate';
import {
  activity,
  type DecisionInput,
  decide,
  defineWorkflow,
  foldCommits,
  type RunState,
  replayCommits,
  type WorkflowDefinition,
} from '../shared/engine/index.js';
import { decodePayload, encodeEvents, encodePayload } from '../shared/history/codec.js';
import type { Commit } from '../shared/history/events.js';

const STATES = 20;

/** 20 states in a row, each invoking `step` with a 60 s timeout timer; loops `laps` times, then ends. */
function twentyStates(name: string): WorkflowDefinition {
  const states: Record<string, object> = {};
  for (let i = 0; i < STATES; i++) {
    const next = i + 1 < STATES ? `s${i + 1}` : undefined;
    states[`s${i}`] = {
      invoke: {
        id: `step${i}`,
        src: 'step',
        input: ({ context }: { context: { lap: number } }) => ({ state: i, lap: context.lap }),
        onDone: next
          ? {
              target: next,
              actions: assign({ total: ({ context }: { context: { total: number } }) => context.total + 1 }),
            }
          : [
              {
                guard: ({ context }: { context: { lap: number; laps: number } }) => context.lap + 1 < context.laps,
                target: 's0',
                actions: assign({ lap: ({ context }: { context: { lap: number } }) => context.lap + 1 }),
              },
              { target: 'done' },
            ],
      },
      after: { 60000: 'timedOut' },
    };
  }
  return defineWorkflow({
    name,
    machine: setup({
      types: { context: {} as { lap: number; laps: number; total: number }, input: {} as { laps: number } },
      actors: { step: activity<{ state: number; lap: number }, unknown>() },
    }).createMachine({
      id: name,
      context: ({ input }) => ({ lap: 0, laps: input.laps, total: 0 }),
      initial: 's0',
      states: { ...states, timedOut: { type: 'final' }, done: { type: 'final' } } as never,
      output: ({ context }) => context,
    }) as unknown as AnyStateMachine,
  });
}

/** Runs one workflow to the end, completing each activity as soon as it is scheduled. */
function runToEnd(def: WorkflowDefinition, runId: string, laps: number): { commits: Commit[]; decisions: number } {
  let at = 1_700_000_000_000;
  let d = decide(def, undefined, { kind: 'start', at, workflowId: runId, runId, input: { laps } });
  const commits: Commit[] = [{ runId, workflowId: runId, seq: 1, events: d.events }];
  while (d.state.status === 'running') {
    const pending = Object.values(d.state.activities)[0];
    if (!pending) throw new Error('stuck');
    at += 7;
    const input: DecisionInput = {
      kind: 'activityCompleted',
      at,
      activitySeq: pending.activitySeq,
      output: { ok: true },
    };
    d = decide(def, d.state, input);
    commits.push({ runId, workflowId: runId, seq: d.state.lastSeq, events: d.events });
  }
  return { commits, decisions: commits.length };
}

function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const out = fn();
  return [out, performance.now() - t0];
}

const def = twentyStates('bench20');

// Warm-up, then decisions per second over many one-lap runs.
runToEnd(def, 'warm', 3);
const RUNS = 300;
let decisions = 0;
let events = 0;
let bytes = 0;
const [, decideMs] = time(() => {
  for (let r = 0; r < RUNS; r++) decisions += runToEnd(def, `run-${r}`, 1).decisions;
});
for (const c of runToEnd(def, 'bytes', 1).commits) {
  events += c.events.length;
  bytes += encodeEvents(c.events).byteLength;
}

// A long history: laps of 20 states until it holds at least 10,000 events.
const laps = Math.ceil(10_000 / (STATES * 4));
const long = runToEnd(def, 'long', laps);
const longEvents = long.commits.reduce((n, c) => n + c.events.length, 0);
const tail = long.commits.slice(0, -1);
const last = long.commits.at(-1)!;
const lastInput = last.events[0]!;
const tailState = foldCommits(def, tail);
const storedSnapshot = encodePayload(tailState);
const nextInput: DecisionInput = {
  kind: 'activityCompleted',
  at: lastInput.at,
  activitySeq: (lastInput as { activitySeq: number }).activitySeq,
  output: { ok: true },
};

const ROUNDS = 5;
let replayMs = 0;
let foldMs = 0;
let resumeMs = 0;
for (let i = 0; i < ROUNDS; i++) {
  // Side by side: rebuild everything and decide, versus decode the snapshot and decide.
  replayMs += time(() => decide(def, replayCommits(def, tail), nextInput))[1];
  foldMs += time(() => decide(def, foldCommits(def, tail), nextInput))[1];
  resumeMs += time(() => {
    const state = decodePayload(storedSnapshot, { runId: 'long', what: 'state' }) as RunState;
    return decide(def, state, nextInput);
  })[1];
}

console.log(
  JSON.stringify({
    workflow: { states: STATES, decisionsPerRun: decisions / RUNS },
    decisionsPerSecond: Math.round(decisions / (decideMs / 1000)),
    microsPerDecision: Number(((decideMs * 1000) / decisions).toFixed(1)),
    encodedBytesPerEvent: Number((bytes / events).toFixed(1)),
    longHistory: {
      events: longEvents,
      commits: long.commits.length,
      snapshotBytes: storedSnapshot.byteLength,
      rebuildWithVerifyMs: Number((replayMs / ROUNDS).toFixed(2)),
      rebuildFoldOnlyMs: Number((foldMs / ROUNDS).toFixed(2)),
      resumeFromSnapshotMs: Number((resumeMs / ROUNDS).toFixed(3)),
      rebuildToResumeRatio: Math.round(replayMs / resumeMs),
    },
  }),
);
