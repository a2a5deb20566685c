/** The Squall client: start, signal, cancel, query runs, read results and history, watch completions. */
export type { CallbackFailure } from './bodies.js';
export { connect, type SquallClient } from './client.js';
export type { PublishEventOptions, PublishedEventReceipt } from './events.js';
export { type ClientOptions, defaultClientOptions } from './options.js';
export type { ScheduleClient, ScheduleDescription } from './schedules.js';
export type {
  AcceptedReply,
  BranchOptions,
  ClosedStatus,
  DescribeOptions,
  EmittedEvent,
  HistoryCommit,
  HistoryOptions,
  HistoryPage,
  IdReusePolicy,
  ListFilter,
  ListPage,
  PendingActivityInfo,
  PendingTimerInfo,
  QueryResult,
  ResetOptions,
  ResultOptions,
  ResumeOptions,
  RunOutcome,
  RunSummary,
  SignalWithStartOptions,
  SignalWithStartResult,
  StartOptions,
  StartResult,
  WatchEvent,
  WatchOptions,
  WatchStart,
  WatchStream,
} from './types.js';
export { MSG_ID_HEADER, REPLY_TO_HEADER, typedError } from './wire.js';
