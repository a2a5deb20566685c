/**
 * The shapes the client sends and receives: start/query/admin replies, completion and emitted
 * events. They mirror the wire contract answered by routers (see design.md, "The user-facing
 * contract").
 */
import type { RunTimingOptions } from '../engine/run-timeouts.js';
import type { ErrorInfo } from '../errors.js';
import type { DebounceOption, SingletonOption } from '../flow/spec.js';
import type { HistoryEvent, Millis, RunStatus, SearchAttributes, SignalEvent } from '../history/events.js';
import type { IdReusePolicy } from '../store/types.js';

/**
 * What a start does when the workflowId was used before (owned by the store; see its JSDoc).
 * The router's default is `returnExisting`: an open run with that id is returned, `created: false`.
 */
export type { IdReusePolicy } from '../store/types.js';

/** Options of `client.start()`. */
export interface StartOptions extends RunTimingOptions {
  /** The run's workflowId. @default crypto.randomUUID() */
  workflowId?: string;
  /** See IdReusePolicy. @default 'returnExisting' (decided by the router) */
  idReusePolicy?: IdReusePolicy;
  /** A small JSON object (≤ 8 KiB) stored on the run and returned by describe. */
  memo?: Record<string, unknown>;
  /** Flat `key → string | number | boolean` (≤ 32 keys) that `list({ where })` filters by. */
  searchAttributes?: SearchAttributes;
  /**
   * Only the last start with this key within `windowMs` runs, `windowMs` after it arrived; the
   * earlier ones reject with StartSupersededError (docs/flow-control.md). @default none
   */
  debounce?: DebounceOption;
  /**
   * At most one open run of this type per key: a start while one is open rejects with
   * StartSkippedError (`skip`) or starts once it closes (`queue`). @default none
   */
  singleton?: SingletonOption;
  /**
   * Priority of the run's activity tasks, 1 (lowest) to 5 (highest): executors pull higher levels
   * first, the lower ones still get a share (docs/flow-control.md#priorities). @default 3
   */
  priority?: number;
}

/** Options of `client.signalWithStart()`. */
export interface SignalWithStartOptions extends Omit<StartOptions, 'workflowId'> {
  /** Input of the run, used only when a new run is started. */
  input?: unknown;
}

/** The reply to a signal-with-start: the run that took the signal, `started` when it is new. */
export interface SignalWithStartResult {
  workflowId: string;
  runId: string;
  started: boolean;
}

/** The reply to a start. `created` is false when an open run with that workflowId was returned. */
/** Options of `client.branch` (docs/workflows.md#branch-reset-and-resume). */
export interface BranchOptions {
  /** The source's last commit the new run repeats (a seq of `history`). */
  atSeq: number;
  /** The source run. @default the workflowId's current (or latest) run */
  runId?: string;
  /** The new run's workflowId. @default `<workflowId>-branch-<8 hex>` */
  newWorkflowId?: string;
  /** Branch a source that is still open (it goes on too). @default false */
  allowOpen?: boolean;
}

/** Options of `client.reset`. */
export interface ResetOptions {
  /** The source's last commit the new run repeats. */
  atSeq: number;
  /** The run to reset. @default the workflowId's current (or latest) run */
  runId?: string;
}

/** Options of `client.resume`. */
export interface ResumeOptions {
  /** The failed run. @default the workflowId's current (or latest) run */
  runId?: string;
}

export interface StartResult {
  workflowId: string;
  runId: string;
  created: boolean;
}

/** The reply to a signal or a cancel: the open run that took it. */
export interface AcceptedReply {
  accepted: true;
  workflowId?: string;
  runId?: string;
}

/** An activity a run is waiting on, as a query reports it. */
export interface PendingActivityInfo {
  activitySeq: number;
  activity: string;
  invokeId?: string;
  input?: unknown;
  scheduledAt?: Millis;
  /** The current attempt, from 1. */
  attempt?: number;
  /** True while waiting out the backoff before the next attempt. */
  retrying?: boolean;
}

/** A timer a run is waiting on, as a query reports it. */
export interface PendingTimerInfo {
  timerSeq: number;
  sendId?: string;
  fireAt: Millis;
}

/** The reply to a query: a run's current state. Reading it changes nothing. */
export interface QueryResult {
  workflowId: string;
  runId: string;
  status: RunStatus;
  /** The XState state value. */
  value: unknown;
  context: unknown;
  output?: unknown;
  error?: ErrorInfo;
  pendingActivities: PendingActivityInfo[];
  pendingTimers: PendingTimerInfo[];
  /** Open child runs the run waits on (absent when none). */
  pendingChildren?: PendingChildInfo[];
  /** The parent run, for a child run. */
  parent?: { workflowId: string; runId: string; invokeId: string; childSeq: number };
  /** The run this one continued as new. */
  continuedFrom?: string;
  /** Where the run came from when branched, reset or resumed (docs/workflows.md#branch-reset-and-resume). */
  origin?: { kind: 'branch' | 'reset' | 'resume'; workflowId: string; runId: string; atSeq: number };
  /**
   * Callbacks the run waits on, with the tokens that complete them; `fireAt`: when its timeout
   * fires, `heartbeatDueAt`: when it fails unless a heartbeat comes first.
   */
  pendingCallbacks?: {
    callbackSeq: number;
    invokeId: string;
    token: string;
    fireAt?: Millis;
    heartbeatDueAt?: Millis;
  }[];
  /** Signal types the current state handles. */
  accepts: string[];
  /** Signals recorded while no state could take them. */
  unhandledSignals?: SignalEvent[];
  /** Tags of the active state nodes (XState `tags`), sorted; once closed, those of the state the run ended in. */
  tags?: string[];
}

/** An open child run, as a query shows it. */
export interface PendingChildInfo {
  childSeq: number;
  workflowType: string;
  invokeId: string;
  childWorkflowId: string;
  parentClosePolicy: 'terminate' | 'requestCancel' | 'abandon';
}

/** A run's summary, as `describe` and `list` return it. */
export interface RunSummary {
  workflowId: string;
  runId: string;
  workflowType: string;
  version?: number;
  status: RunStatus;
  value?: unknown;
  startedAt?: Millis;
  updatedAt?: Millis;
  closedAt?: Millis;
  output?: unknown;
  error?: ErrorInfo;
  lastSeq?: number;
  /** Where the run came from when branched, reset or resumed (docs/workflows.md#branch-reset-and-resume). */
  origin?: { kind: 'branch' | 'reset' | 'resume'; workflowId: string; runId: string; atSeq: number };
  [key: string]: unknown;
}

/** Options of `client.describe()`. */
export interface DescribeOptions {
  /** A specific run; @default the latest run of the workflowId */
  runId?: string;
}

/** Options of `client.history()`. */
export interface HistoryOptions {
  /** A specific run; @default the latest run of the workflowId */
  runId?: string;
  /** First commit seq to return. @default 1 */
  fromSeq?: number;
  /** Most commits in one page. @default the router's page size */
  limit?: number;
}

/** One commit of history as the history API returns it. */
export interface HistoryCommit {
  seq: number;
  at: Millis;
  events: HistoryEvent[];
}

/** A page of history; `nextSeq` (the `fromSeq` of the next page) is set when more commits follow. */
export interface HistoryPage {
  commits: HistoryCommit[];
  nextSeq?: number;
}

/** Filter of `client.list()`; every field narrows the result. */
export interface ListFilter {
  status?: RunStatus;
  workflowType?: string;
  /** Runs started at or after this time (ms). */
  startedFrom?: Millis;
  /** Runs started before this time (ms). */
  startedTo?: Millis;
  /** Alias of `workflowType`. */
  type?: string;
  /** Search attributes a run must hold, each with exactly this value (and type). */
  where?: SearchAttributes;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  limit?: number;
}

/** A page of runs; `nextCursor` is set when more follow. */
export interface ListPage {
  runs: RunSummary[];
  nextCursor?: string;
}

/** Final statuses a completion can report. */
export type ClosedStatus = Exclude<RunStatus, 'running'>;

/** The body of `<prefix>.done.<type>.<workflowId>`. */
export interface RunOutcome {
  workflowId: string;
  runId: string;
  status: ClosedStatus;
  output?: unknown;
  error?: ErrorInfo;
}

/** The body of `<prefix>.emit.<workflowId>`. */
export interface EmittedEvent {
  workflowId: string;
  runId: string;
  event: SignalEvent;
}

/** One message seen by `client.watch()`; `seq` is its outcomes-stream sequence (resume with `from: { seq: seq + 1 }`). */
export type WatchEvent =
  | { kind: 'done'; subject: string; seq: number; body: RunOutcome }
  | { kind: 'emit'; subject: string; seq: number; body: EmittedEvent };

/**
 * Where `client.watch()` starts in the outcomes stream: `'new'` (what is stored after `ready`), a
 * stream sequence (inclusive) or a time (messages stored at or after it; a Date or epoch ms).
 */
export type WatchStart = 'new' | { seq: number } | { time: Date | number };

/** Narrows `client.watch()`. Without options every completion and emitted event is seen. */
export interface WatchOptions {
  workflowId?: string;
  /**
   * Only completions of this workflow type. Emitted events carry no type, so they are left out
   * when `type` is set without `workflowId`.
   */
  type?: string;
  /** Where to start reading; see WatchStart. @default 'new' */
  from?: WatchStart;
}

/** Options of `client.result()`. */
export interface ResultOptions {
  /** Reject with TimeoutError after this long. @default wait forever */
  timeoutMs?: number;
  /**
   * Wait for this run (from `start()`); completions of other runs with the same workflowId are
   * skipped and continue-as-new is followed. Without it, the newest completion recorded for the
   * workflowId answers (which may be an earlier run's if the id was reused): pass it when you can.
   */
  runId?: string;
  /**
   * Reject with UnavailableError once NATS has stayed disconnected this long while waiting.
   * @default the client's `resultDisconnectTimeoutMs` (30 000)
   */
  disconnectTimeoutMs?: number;
}

/**
 * Completions and emitted events in outcomes-stream order, each once, carried across reconnects
 * (it never gives up on a lost server); `stop()` ends the iteration.
 */
export interface WatchStream extends AsyncIterable<WatchEvent> {
  /** Resolves once the start point is fixed: with `from: 'new'`, what is stored after this is seen. */
  readonly ready: Promise<void>;
  stop(): void;
}
