/**
 * Following one run for the live page. The run's traffic on NATS says when it may have moved: its
 * inputs (signal, cancel, terminate of its workflowId; activity results, timer firings and child
 * outcomes of its runId) and its outcomes (timer schedules and cancels, emitted events, its
 * completion). Each message starts a short look at the history for commits past the last one
 * seen (the commit lands a few ms after the input); a new one is reported. A slow periodic look
 * is the fallback for a connection not allowed to subscribe to those subjects.
 */
import type { Subscription } from '@nats-io/transport-node';
import type { SquallClient } from '../../shared/client/index.js';
import type { Logger } from '../../shared/log.js';

/** When to look again after a message, ms after it: the commit follows its input closely. */
const LOOKS_MS = [30, 100, 250, 600, 1500, 3000];
/** The fallback look. */
export const FALLBACK_LOOK_MS = 5_000;

/** What a follower reports: the run's last commit seq and whether it is still open. */
export interface RunMoved {
  lastSeq: number;
  closed: boolean;
}

/** Follows one run; `stop()` ends its subscriptions and timers. */
export interface RunFollower {
  stop(): void;
}

/** Starts following `runId` of `workflowId` from commit `lastSeq`; `onMove` is called for each new last commit. */
export function followRun(
  client: SquallClient,
  workflowId: string,
  runId: string,
  lastSeq: number,
  onMove: (m: RunMoved) => void,
  log: Logger,
): RunFollower {
  const s = client.subjects;
  let seen = lastSeq;
  let stopped = false;
  let looking = false;
  let again = false;
  const timers = new Set<NodeJS.Timeout>();

  const lookOnce = async (): Promise<boolean> => {
    const page = await client.history(workflowId, { runId, fromSeq: seen + 1, limit: 1000 });
    const last = page.commits.at(-1);
    if (!last || last.seq <= seen) return false;
    seen = last.seq;
    const closed = last.events.some((e) =>
      ['RunCompleted', 'RunFailed', 'RunCancelled', 'RunTerminated', 'RunContinuedAsNew'].includes(e.type),
    );
    onMove({ lastSeq: seen, closed });
    return true;
  };

  /** Looks at the history on the LOOKS_MS schedule until a new commit shows (or the schedule ends). */
  const burst = async (): Promise<void> => {
    if (looking) {
      again = true;
      return;
    }
    looking = true;
    try {
      do {
        again = false;
        for (const ms of LOOKS_MS) {
          await sleep(ms, timers);
          if (stopped) return;
          if (await lookOnce()) break;
        }
      } while (again && !stopped);
    } catch (err) {
      log.debug('console: run look failed', { workflowId, runId, err });
    } finally {
      looking = false;
    }
  };

  const subjects = [
    s.signal(workflowId),
    s.cancel(workflowId),
    s.terminate(workflowId),
    s.result(runId),
    s.fired(runId),
    s.child(runId),
    s.timerSchedule(runId),
    s.timerCancel(runId),
    s.emit(workflowId),
    s.doneFilter(undefined, workflowId),
  ];
  const subs: Subscription[] = [];
  for (const subject of subjects) {
    try {
      subs.push(
        client.nc.subscribe(subject, {
          callback: (err) => {
            if (!err) void burst();
          },
        }),
      );
    } catch (err) {
      log.debug('console: cannot follow subject', { subject, err });
    }
  }
  const fallback = setInterval(() => void burst(), FALLBACK_LOOK_MS);
  fallback.unref();
  // A move between the page's read and these subscriptions is caught by a first look.
  void burst();

  return {
    stop() {
      stopped = true;
      clearInterval(fallback);
      for (const t of timers) clearTimeout(t);
      for (const sub of subs) sub.unsubscribe();
    },
  };
}

function sleep(ms: number, timers: Set<NodeJS.Timeout>): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      timers.delete(t);
      resolve();
    }, ms);
    t.unref();
    timers.add(t);
  });
}
