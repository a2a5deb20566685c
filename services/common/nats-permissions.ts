/**
 * Least-privilege NATS permissions per Squall role, for one prefix: what each role must publish
 * and subscribe to, JetStream API subjects included, as the `permissions` block of a nats-server
 * user (`authorization { users: [...] }` or a user JWT). Built from shared/names.ts, so they follow
 * the subjects and streams the code uses. docs/security.md explains each grant.
 */

import { flowStreamName } from '../../shared/flow/state.js';
import { DEFAULT_PREFIX, type StreamNames, streamNames, subjects } from '../../shared/names.js';

/** The roles Squall's processes play. */
export type SquallRole = 'client' | 'router' | 'executor' | 'timer';

/** The roles, in the order the docs list them. */
export const SQUALL_ROLES: readonly SquallRole[] = ['client', 'router', 'executor', 'timer'];

/** A nats-server `permissions` block (JSON is valid nats-server configuration syntax). */
export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

/** Where request replies arrive: nats.js's default inbox prefix. */
export const INBOX_SUBJECTS = '_INBOX.>';

/**
 * The permission set of every role for `prefix`:
 * - client: publish start/signal/cancel/terminate/query/callback and user events, the router API
 *   (describe/history/list) and the schedule API; read completions from the outcomes stream through an ordered
 *   consumer; receive replies and `started` notices. Nothing internal.
 * - router: every subject of its prefix and full JetStream control of its prefix's streams.
 * - executor: pull activity tasks, read cancel notices, publish (or offer directly) results and dead letters.
 * - timer: pull timer schedules, publish firings and dead letters; answer the schedule API and
 *   start (or cancel, terminate) the runs of schedules' ticks.
 * Everyone may read its prefix's stream info (each service checks the streams at start) and
 * receive replies on `_INBOX.>`. Only the router may create or update streams: start a router
 * before executors and timers on a fresh prefix.
 */
export function natsPermissions(prefix: string = DEFAULT_PREFIX): Record<SquallRole, NatsPermissions> {
  const s = subjects(prefix);
  const streams = streamNames(prefix);
  const all = Object.values(streams);
  const p = s.prefix;
  const readStreamInfo = ['$JS.API.INFO', ...all.map((n) => `$JS.API.STREAM.INFO.${n}`)];
  // Flow control (docs/flow-control.md): documents in the flow stream, read and compare-and-set by
  // routers and executors; whichever uses it first creates it.
  const flow = flowStreamName(prefix);
  const flowDocs = [
    `${p}.flow.>`,
    `$JS.API.STREAM.INFO.${flow}`,
    `$JS.API.STREAM.CREATE.${flow}`,
    `$JS.API.STREAM.MSG.GET.${flow}`,
  ];
  // Large payloads (docs/storage.md#large-payloads): chunks written to and read from the blobs stream.
  const blobs = [s.all.blob, `$JS.API.STREAM.MSG.GET.${streams.blobs}`];
  return {
    client: {
      publish: {
        allow: [
          s.all.start,
          // Starts at a priority level but the default (routers take them by priority).
          s.all.startLevels,
          s.all.signal,
          s.all.cancel,
          s.all.terminate,
          s.all.query,
          s.all.callback,
          s.all.api,
          s.all.schedule,
          // The console reads the routers' definition graphs and run paths.
          s.definitions(),
          // publishEvent(): an acked JetStream publish, its PubAck on the reply inbox.
          s.all.userEvent,
          // result() and watch() read completions through an ordered (ephemeral) consumer.
          `$JS.API.STREAM.INFO.${streams.outcomes}`,
          ...consumerReader(streams.outcomes),
          ...blobs,
        ],
      },
      subscribe: { allow: [INBOX_SUBJECTS, `${p}.started.*`] },
    },
    router: {
      publish: {
        allow: [`${p}.>`, INBOX_SUBJECTS, '$JS.API.INFO', ...all.flatMap(streamAdmin), ...all.map(acks), ...flowDocs],
      },
      subscribe: { allow: [`${p}.>`, INBOX_SUBJECTS] },
    },
    executor: {
      publish: {
        allow: [
          s.all.result,
          // Results offered to the router holding their run (shared/bus/direct-results.ts).
          s.all.directResult,
          s.all.dlq,
          INBOX_SUBJECTS,
          ...readStreamInfo,
          ...durableWorker(streams.tasks),
          // Cancel notices: the last one of an activity is read from the notices stream.
          `$JS.API.STREAM.MSG.GET.${streams.notices}`,
          `$JS.API.DIRECT.GET.${streams.notices}`,
          `$JS.API.DIRECT.GET.${streams.notices}.>`,
          ...blobs,
          ...flowDocs,
        ],
      },
      // Waiting tasks hear every write to their key's slots.
      // ...and prioritised tasks are heard as they are published (services/executor/priority-lanes.ts).
      subscribe: {
        allow: [INBOX_SUBJECTS, s.all.activityCancel, s.health('executor'), `${p}.flow.slots.>`, s.all.taskLevels],
      },
    },
    timer: {
      publish: {
        allow: [
          s.all.fired,
          s.all.dlq,
          // Schedules start their ticks' runs, and end open ones (cancelOther, terminateOther).
          s.all.start,
          s.all.cancel,
          s.all.terminate,
          INBOX_SUBJECTS,
          ...readStreamInfo,
          ...durableWorker(streams.timers),
          ...blobs,
        ],
      },
      subscribe: { allow: [INBOX_SUBJECTS, s.health('timer'), s.all.schedule] },
    },
  };
}

/** A consumer's lifecycle and pulls on `stream` (ordered consumers are created, pulled, deleted). */
function consumerReader(stream: string): string[] {
  return [
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
  ];
}

/** A shared durable work consumer on `stream`: ensure it (info, create, update), pull and ack. */
function durableWorker(stream: string): string[] {
  return [
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    acks(stream),
  ];
}

/** Full control of one stream and its consumers, and reading its messages. */
function streamAdmin(stream: StreamNames[keyof StreamNames]): string[] {
  return [
    `$JS.API.STREAM.*.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
  ];
}

/** Acknowledging messages of `stream` (ack, nak, in-progress, term). */
function acks(stream: string): string {
  return `$JS.ACK.${stream}.>`;
}
