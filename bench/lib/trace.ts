/**
 * Where a run's time goes (`latency --trace`): the in-process services log at debug level into
 * this recorder, which stamps each line with `performance.now()`. With runs one at a time, the
 * gap between two consecutive lines is a segment of one run's path (router decision, the hop to
 * an executor, the activity, the hop back), and its median over many runs is what it costs.
 */
import { performance } from 'node:perf_hooks';
import { createLogger, type Logger } from '../../shared/log.js';

/** The lines that mark a run's path, as `service: msg`. */
const MARKS = new Set([
  'router: input taken',
  'router: input decided',
  'executor: task started',
  'executor: task done',
]);

interface Mark {
  at: number;
  key: string;
}

let marks: Mark[] | undefined;

/** Starts recording (and drops what was recorded); services started after this log into it. */
export function startTrace(): void {
  marks = [];
}

/** A logger for a service: the recorder while tracing, else warnings only. */
export function benchLogger(): Logger {
  if (!marks) return createLogger({ level: 'warn' });
  return createLogger({
    level: 'debug',
    sink: (line) => {
      const at = performance.now();
      const l = JSON.parse(line) as { service?: string; msg?: string; subject?: string };
      let key = `${l.service}: ${l.msg}`;
      if (!MARKS.has(key)) return;
      if (l.subject !== undefined) key += ` (${l.subject.split('.')[1]})`;
      marks?.push({ at, key });
    },
  });
}

/** Forgets what was recorded so far (a warm-up), and keeps recording. */
export function resetTrace(): void {
  if (marks) marks.length = 0;
}

/** Median and count of each segment between consecutive marks, in ms, largest median first. */
export function traceSummary(): { segment: string; count: number; p50Ms: number }[] {
  const gaps = new Map<string, number[]>();
  const list = marks ?? [];
  for (let i = 1; i < list.length; i++) {
    const a = list[i - 1] as Mark;
    const b = list[i] as Mark;
    const key = `${a.key} -> ${b.key}`;
    gaps.set(key, [...(gaps.get(key) ?? []), b.at - a.at]);
  }
  return [...gaps.entries()]
    .map(([segment, ds]) => {
      const sorted = [...ds].sort((x, y) => x - y);
      return { segment, count: ds.length, p50Ms: Math.round((sorted[Math.floor(sorted.length / 2)] ?? 0) * 100) / 100 };
    })
    .filter((s) => s.count >= 5)
    .sort((x, y) => y.p50Ms - x.p50Ms);
}
