/**
 * Where a run's time goes (`latency --trace`). While tracing, marks are stamped with
 * `performance.now()` along a run's path: the driver's (start sent, start answered, completion
 * received), the in-process services' debug lines (input taken and decided, task started and
 * done), and every store call and publish of the services, through the store and bus this module
 * wraps for them (traceStore, traceBus). No service code is changed for it. With runs one at a
 * time, each run's marks lie between its `client: start sent` and `client: done received`; pathTimeline()
 * puts each mark at its median time from the start and gives the median gap from the mark before.
 */
import { performance } from 'node:perf_hooks';
import type { Bus } from '../../shared/bus/connect.js';
import { createLogger, type Logger } from '../../shared/log.js';
import type { Store } from '../../shared/store/types.js';

/** The debug lines that mark a run's path, as `service: msg`. */
const LOG_MARKS = new Set([
  'router: input taken',
  'router: input decided',
  'executor: task started',
  'executor: task done',
]);

/** The mark that opens a run's window (the driver sets it when it sends a start request). */
export const RUN_START_MARK = 'client: start sent';
/** The mark that closes it: what comes after (the done publish's PubAck, say) delays no one. */
export const RUN_DONE_MARK = 'client: done received';

/** One stamped mark. */
export interface Mark {
  at: number;
  label: string;
}

let marks: Mark[] | undefined;

/** Starts recording (and drops what was recorded); services started after this log into it. */
export function startTrace(): void {
  marks = [];
}

/** True while recording: services are then started with traced stores and buses. */
export function tracing(): boolean {
  return marks !== undefined;
}

/** Stamps `label` now, while recording. */
export function mark(label: string): void {
  marks?.push({ at: performance.now(), label });
}

/** Forgets what was recorded so far (a warm-up), and keeps recording. */
export function resetTrace(): void {
  if (marks) marks.length = 0;
}

/** A logger for a service: the recorder's marks from its debug lines while tracing, else warnings only. */
export function benchLogger(): Logger {
  if (!marks) return createLogger({ level: 'warn' });
  return createLogger({
    level: 'debug',
    sink: (line) => {
      const at = performance.now();
      const l = JSON.parse(line) as { service?: string; msg?: string; subject?: string; level?: string };
      let label = `${l.service}: ${l.msg}`;
      if (!LOG_MARKS.has(label)) {
        if (l.level === 'warn' || l.level === 'error') process.stderr.write(`${line}\n`);
        return;
      }
      if (l.subject !== undefined) label += ` (${subjectKind(l.subject)})`;
      marks?.push({ at, label });
    },
  });
}

/** The kind token of a subject (`<prefix>.<kind>.…`): task, result, done, start, … */
function subjectKind(subject: string): string {
  return subject.split('.')[1] ?? subject;
}

/** The store calls that are marked (those a decision may wait on). */
const STORE_CALLS = new Set<string>([
  'appendCommits',
  'appendChain',
  'claimWorkflowIds',
  'claimWorkflowId',
  'saveRuns',
  'saveRun',
  'getRun',
  'workflowIdHolder',
  'commitsSince',
  'lastSeq',
  'discardRefusedStart',
]);

/** `store` with each call of STORE_CALLS marked `<who>: store.<call> sent` and `… done`. */
export function traceStore(store: Store, who: string): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || !STORE_CALLS.has(prop) || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        mark(`${who}: store.${prop} sent`);
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          mark(`${who}: store.${prop} done`);
        }
      };
    },
  });
}

/** `bus` with each JetStream publish marked `<who>: publish <kind> sent` and `… acked`, each core publish once. */
export function traceBus(bus: Bus, who: string): Bus {
  return new Proxy(bus, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop === 'publish' || prop === 'publishBytes') {
        const publish = value as Bus['publish'];
        return async (subject: string, ...rest: [unknown, Parameters<Bus['publish']>[2]?]) => {
          const kind = subjectKind(subject);
          mark(`${who}: publish ${kind} sent`);
          try {
            return await publish.call(target, subject, ...rest);
          } finally {
            mark(`${who}: publish ${kind} acked`);
          }
        };
      }
      if (prop === 'publishCore') {
        const publishCore = value as Bus['publishCore'];
        return (subject: string, ...rest: [unknown, Parameters<Bus['publishCore']>[2]?]) => {
          mark(`${who}: notice ${subjectKind(subject)} sent`);
          publishCore.call(target, subject, ...rest);
        };
      }
      return value;
    },
  });
}

/** One mark of the timeline of a run's path. */
export interface TimelineMark {
  /** The mark, with its occurrence in the run (`#2` for the second `input taken (result)`). */
  mark: string;
  /** In how many runs it was seen. */
  runs: number;
  /** Median time from the run's start request being sent, ms. */
  atMs: number;
  /** Median, over runs that have both, of the time since the mark listed before it, ms. */
  sincePrevMs: number;
}

/**
 * The timeline of a run's path from the recorded marks: split into runs from each RUN_START_MARK
 * to the RUN_DONE_MARK after it, each mark labelled with its occurrence in its run, put at its median time from its run's start
 * and ordered by it. Marks seen in fewer than half of the runs are left out (a stray one).
 */
export function pathTimeline(recorded: readonly Mark[] = marks ?? []): TimelineMark[] {
  const runs: Map<string, number>[] = [];
  let current: { t0: number; offsets: Map<string, number>; seen: Map<string, number> } | undefined;
  for (const m of recorded) {
    if (m.label === RUN_START_MARK) {
      current = { t0: m.at, offsets: new Map(), seen: new Map() };
      runs.push(current.offsets);
    }
    if (!current) continue;
    const n = (current.seen.get(m.label) ?? 0) + 1;
    current.seen.set(m.label, n);
    current.offsets.set(n === 1 ? m.label : `${m.label} #${n}`, m.at - current.t0);
    if (m.label === RUN_DONE_MARK) current = undefined;
  }
  const byMark = new Map<string, number[]>();
  for (const run of runs) {
    for (const [label, at] of run) byMark.set(label, [...(byMark.get(label) ?? []), at]);
  }
  const ordered = [...byMark.entries()]
    .filter(([, ats]) => ats.length * 2 >= runs.length)
    .map(([label, ats]) => ({ label, runs: ats.length, atMs: median(ats) }))
    .sort((a, b) => a.atMs - b.atMs);
  return ordered.map((m, i) => {
    const prev = ordered[i - 1];
    const gaps: number[] = [];
    if (prev) {
      for (const run of runs) {
        const a = run.get(prev.label);
        const b = run.get(m.label);
        if (a !== undefined && b !== undefined) gaps.push(b - a);
      }
    }
    return { mark: m.label, runs: m.runs, atMs: round2(m.atMs), sincePrevMs: round2(gaps.length ? median(gaps) : 0) };
  });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
