/**
 * The router's durable consumers: the inbox's one, shared by every router, and one per events
 * partition, each pulled by the router that holds the partition (see partitions.ts). Created or
 * brought up to date at start, and again whenever a pull finds its durable gone. The starts of
 * the priority levels but the default have a shared durable per level, created once a start at
 * that level is seen (see startLevelSpec and consume.ts).
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { backoffDelay, sleep } from '../../shared/bus/backoff.js';
import type { Bus } from '../../shared/bus/connect.js';
import { isRetryableNatsError } from '../../shared/bus/errors.js';
import { ensureTasksKeeper } from '../../shared/bus/streams.js';
import type { Logger } from '../../shared/log.js';
import { consumerNames, EVENT_PARTITIONS } from '../../shared/names.js';

/** One durable the router pulls from: the inbox's shared one, or an events partition's. */
export interface RouterConsumerSpec {
  stream: string;
  durable: string;
  /** Subject filter of the durable: every inbox subject but the prioritised starts, a start level's, or an events partition's. */
  filter: string;
}

/** The durables of a router on `bus`: the inbox's, and the events partitions' by partition. */
export interface RouterConsumerSpecs {
  inbox: RouterConsumerSpec;
  partitions: RouterConsumerSpec[];
}

/** The router's durables on `bus`. */
export function routerConsumerSpecs(bus: Bus): RouterConsumerSpecs {
  return {
    inbox: { stream: bus.streams.inbox, durable: consumerNames.router, filter: bus.subjects.all.inboxDefaultLevel },
    partitions: Array.from({ length: EVENT_PARTITIONS }, (_, p) => ({
      stream: bus.streams.events,
      durable: consumerNames.routerEvents(p),
      filter: bus.subjects.eventsOfPartition(p),
    })),
  };
}

/** The routers' shared durable of the starts at a priority level but the default. */
export function startLevelSpec(bus: Bus, level: number): RouterConsumerSpec {
  return { stream: bus.streams.inbox, durable: consumerNames.routerAt(level), filter: bus.subjects.startLevel(level) };
}

/**
 * Ensures every durable of `specs`, retrying while NATS is briefly away (each try logged), and
 * resolves with when the inbox stream was created: with a message's stream sequence, the key of a
 * start (a recreated stream restarts its sequences, so the epoch keeps start keys apart).
 */
export async function setupRouterConsumers(
  bus: Bus,
  specs: RouterConsumerSpecs,
  ackWaitMs: number,
  log: Logger,
): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const inboxInfo = await bus.jsm.streams.info(bus.streams.inbox);
      for (const spec of [specs.inbox, ...specs.partitions]) await ensureRouterConsumer(bus.jsm, spec, ackWaitMs);
      await deleteUnpartitionedConsumer(bus);
      // Only nats-server's CPU depends on it: a failure that will not pass is logged, not fatal.
      await ensureTasksKeeper(bus.js, bus.prefix).catch((err: unknown) => {
        if (isRetryableNatsError(err)) throw err;
        log.warn("could not keep a message in the tasks stream (nats-server's CPU per task grows without it)", {
          err,
        });
      });
      return inboxInfo.created;
    } catch (err) {
      if (!isRetryableNatsError(err)) throw err;
      const delayMs = backoffDelay(attempt);
      log.warn('router setup failed, retrying', { err, attempt, delayMs });
      await sleep(delayMs);
    }
  }
}

/** Creates one of the router's durable consumers, or brings an existing one's settings up to date. */
export async function ensureRouterConsumer(
  jsm: JetStreamManager,
  spec: RouterConsumerSpec,
  ackWaitMs: number,
): Promise<void> {
  const config = {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ackWaitMs * 1_000_000,
    max_deliver: -1,
    max_ack_pending: 4096,
    filter_subject: spec.filter,
  };
  try {
    await jsm.consumers.add(spec.stream, config);
  } catch (err) {
    // It exists with other settings: those that may change in place are brought up to date (the
    // filter too: the inbox's durable had none before prioritised starts had subjects of their own).
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.consumers.update(spec.stream, spec.durable, {
      ack_wait: config.ack_wait,
      max_ack_pending: config.max_ack_pending,
      filter_subject: config.filter_subject,
    });
  }
}

/**
 * Removes the single events durable of routers before partitioning, where one is left: nobody
 * pulls it any more, and its growing pending count would only mislead.
 */
async function deleteUnpartitionedConsumer(bus: Bus): Promise<void> {
  try {
    await bus.jsm.consumers.delete(bus.streams.events, consumerNames.router);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound)) throw err;
  }
}
