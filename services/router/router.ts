/**
 * The router service: owns decisions. Consumes user inputs (inbox stream) and engine inputs
 * (events stream) from shared durable consumers, folds each into its run through the pure
 * engine, appends the commit, publishes the commands, then acks. Answers requests on core NATS.
 * Stateless: any number of routers may run; optimistic concurrency on append keeps them honest.
 */
import { randomUUID } from 'node:crypto';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import type { MongoClient } from 'mongodb';
import { backoffDelay, retryWithBackoff, sleep } from '../../shared/bus/backoff.js';
import { type Bus, connectBus } from '../../shared/bus/connect.js';
import { isRetryableNatsError } from '../../shared/bus/errors.js';
import type { WorkflowDefinition } from '../../shared/engine/index.js';
import { WorkflowRegistry } from '../../shared/engine/index.js';
import { ConfigError, toSquallError } from '../../shared/errors.js';
import { createLogger, type Logger } from '../../shared/log.js';
import { consumerNames, DEFAULT_PREFIX, EVENT_PARTITIONS } from '../../shared/names.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';
import { connectStore, type ServiceHealth, serveHealth } from '../common/service.js';
import { createInputConsumer, ensureRouterConsumer, type RouterConsumerSpec, type RouterCounters } from './consume.js';
import { RunDecider } from './decider.js';
import type { OutboundMessage } from './outbox.js';
import { startOutboxSweeper } from './outbox-sweeper.js';
import { joinPartitions } from './partitions.js';
import { serveRouterRequests } from './requests.js';
import { checkOpenRunVersions } from './versions.js';

/**
 * Test-only fault hooks, called around every command publish of a decision (after its commit is
 * stored, before the input is acked). The CLI builds them from `SQUALL_FAULT` to crash a router at
 * exactly those points; nothing else should set them.
 */
export interface RouterFaultHooks {
  /** Right after a commit was appended, before its summary write or any publish. */
  afterAppend?(commit: StoredCommit): void;
  /** Before a command message of a stored commit is published. */
  beforePublish?(m: OutboundMessage): void;
  /** After a command message was published (acked by JetStream), before the input's ack. */
  afterPublish?(m: OutboundMessage): void;
}

/** Options of startRouter. */
export interface RouterOptions {
  /** NATS URL(s); ignored when `bus` is given. @default process.env.NATS_URL */
  natsUrl?: string | string[];
  /** An already connected bus (its owner closes it). */
  bus?: Bus;
  /** MongoDB URL; ignored when `store` is given. @default process.env.MONGO_URL */
  mongoUrl?: string;
  /** An initialised store (its owner closes it). */
  store?: Store;
  /** @default 'squall' */
  prefix?: string;
  /** Database name. @default 'squall' */
  dbName?: string;
  /** Workflow definitions (every version of each) or a registry. */
  workflows: WorkflowDefinition[] | WorkflowRegistry;
  /** @default a JSON-lines logger with service=router */
  log?: Logger;
  /** Instance id in logs and connection names. @default random */
  id?: string;
  /** Most inputs being decided at once. @default 1024 */
  maxInFlight?: number;
  /** Largest input body accepted, in bytes; larger ones are dead-lettered as `oversize`. @default 262_144 */
  maxInputBytes?: number;
  /** How often the outbox is swept for commits a crash left unpublished. @default 5_000 */
  outboxIntervalMs?: number;
  /**
   * How long a commit stays unpublished before a sweep republishes it. Longer than a busy
   * router's append-to-mark delay, so a sweep repeats only what a crash left, not what another
   * router is still publishing (a repeat is harmless but costs a publish and a history load).
   * @default 15_000
   */
  outboxGraceMs?: number;
  /**
   * How long an open run's summary write waits for the run's next state (see
   * RunProjectionsOptions.summaryDelayMs): list rows of open runs lag by up to this much;
   * describe and query read history. 0 writes every state. @default 1000
   */
  summaryDelayMs?: number;
  /**
   * Runs whose state the router keeps in memory, least recently decided dropped first; a run not
   * kept is loaded from its summary and history tail on its next input. 0 keeps none.
   * @default 10_000
   */
  runCacheSize?: number;
  /** Ack wait of the router's consumers. @default 30_000 */
  ackWaitMs?: number;
  /** Test-only crash points (see RouterFaultHooks). */
  faults?: RouterFaultHooks;
  /**
   * Refuse to start (ConfigError) when open runs use a (workflowType, version) that `workflows`
   * lacks. Turn off only for a router that deliberately serves a subset. @default true
   */
  requireOpenRunVersions?: boolean;
}

/** A running router. */
export interface RouterHandle {
  readonly name: 'router';
  readonly id: string;
  /** Stops consuming, waits for in-flight decisions (up to the deadline), closes what it opened. */
  stop(opts?: { deadlineMs?: number }): Promise<void>;
  /** Resolves when the router has stopped. */
  readonly closed: Promise<void>;
  /** `live` = not stopped; `ready` = connected to NATS and MongoDB and consuming both streams. */
  health(): ServiceHealth;
}

/** Starts a router. */
export async function startRouter(opts: RouterOptions): Promise<RouterHandle> {
  const id = opts.id ?? randomUUID().slice(0, 8);
  const prefix = opts.prefix ?? process.env.SQUALL_PREFIX ?? DEFAULT_PREFIX;
  const log = (opts.log ?? createLogger()).child({ service: 'router', instance: id });
  const registry = opts.workflows instanceof WorkflowRegistry ? opts.workflows : new WorkflowRegistry(opts.workflows);
  const maxInputBytes = opts.maxInputBytes ?? 262_144;
  const ackWaitMs = opts.ackWaitMs ?? 30_000;

  const ownedBus = !opts.bus;
  const bus =
    opts.bus ??
    (await connectBus({
      servers: opts.natsUrl ?? required('NATS_URL', process.env.NATS_URL),
      name: `squall-router-${id}`,
      prefix,
      log,
      connectDeadlineMs: Number.POSITIVE_INFINITY,
    }));
  let mongo: MongoClient | undefined;
  let store = opts.store;
  let mongoConnected = (): boolean => true;
  if (!store) {
    try {
      const owned = await connectStore({
        mongoUrl: opts.mongoUrl ?? required('MONGO_URL', process.env.MONGO_URL),
        dbName: opts.dbName ?? process.env.SQUALL_DB ?? 'squall',
        collectionPrefix: prefix,
        log,
      });
      ({ mongo, store } = owned);
      mongoConnected = owned.connected;
    } catch (err) {
      if (ownedBus) await bus.close();
      throw err;
    }
  }
  const st = store;
  const faults = opts.faults ?? {};
  if (opts.requireOpenRunVersions ?? true) {
    try {
      // A store that is briefly away is waited for, as at connect; a missing version is final.
      await retryWithBackoff(() => checkOpenRunVersions(st, registry), {
        isRetryable: (err) => toSquallError(err).retryable,
        onRetry: (err, attempt, delayMs) =>
          log.warn('open run versions check failed, retrying', { err, attempt, delayMs }),
      });
    } catch (err) {
      log.error('router refused to start', { err });
      if (ownedBus) await bus.close();
      if (!opts.store) await st.close();
      await mongo?.close();
      throw err;
    }
  }

  const decider = new RunDecider({
    store: faults.afterAppend ? withAppendHook(st, faults.afterAppend) : st,
    registry,
    subjects: bus.subjects,
    log,
    ...(opts.summaryDelayMs === undefined ? {} : { summaryDelayMs: opts.summaryDelayMs }),
    ...(opts.runCacheSize === undefined ? {} : { cacheSize: opts.runCacheSize }),
    publish: async (m) => {
      faults.beforePublish?.(m);
      if (m.inbox) {
        // The inbox stream acks nothing (see OutboundMessage.inbox): the flush's round trip
        // makes sure the server took the message; the msg id dedupes a re-publish.
        bus.publishCore(m.subject, m.body, { headers: { 'Nats-Msg-Id': m.msgId } });
        await bus.nc.flush();
      } else {
        await bus.publish(m.subject, m.body, { msgId: m.msgId });
      }
      faults.afterPublish?.(m);
    },
  });

  const inboxConsumer: RouterConsumerSpec = { stream: bus.streams.inbox, durable: consumerNames.router };
  const partitionConsumers: RouterConsumerSpec[] = Array.from({ length: EVENT_PARTITIONS }, (_, p) => ({
    stream: bus.streams.events,
    durable: consumerNames.routerEvents(p),
    filter: bus.subjects.eventsOfPartition(p),
  }));
  const setup = async () => {
    const inboxInfo = await bus.jsm.streams.info(bus.streams.inbox);
    for (const spec of [inboxConsumer, ...partitionConsumers]) await ensureRouterConsumer(bus.jsm, spec, ackWaitMs);
    await deleteUnpartitionedConsumer(bus);
    return inboxInfo.created;
  };
  let inboxEpoch: Awaited<ReturnType<typeof setup>>;
  try {
    inboxEpoch = await retryWithBackoffLogged(setup, log);
  } catch (err) {
    if (ownedBus) await bus.close();
    await mongo?.close();
    throw err;
  }

  const requestSubs: Subscription[] = serveRouterRequests({
    nc: bus.nc,
    subjects: bus.subjects,
    store: st,
    registry,
    decider,
    reply: (msg, body) => bus.reply(msg, body),
    log,
    maxInputBytes,
  });

  let stopping = false;
  const isStopping = (): boolean => stopping;
  const counters: RouterCounters = { decided: 0, deadLettered: 0, redelivered: 0, dropped: 0 };
  const inputs = createInputConsumer({
    bus,
    decider,
    log,
    counters,
    inboxEpoch,
    maxInputBytes,
    maxInFlight: opts.maxInFlight ?? 1024,
    ackWaitMs,
    isStopping,
  });
  const sweeper = startOutboxSweeper({
    store: st,
    decider,
    log,
    intervalMs: opts.outboxIntervalMs ?? 5_000,
    graceMs: opts.outboxGraceMs ?? 15_000,
    isStopping,
  });

  const inboxLoop = inputs.consume(inboxConsumer);
  // Each events partition is pulled by the one router that holds it (see router-partitions.ts).
  let owned: ReadonlySet<number> = new Set();
  const partitionLoops = new Map<number, Promise<void>>();
  const takePartitions = (next: ReadonlySet<number>): void => {
    owned = next;
    for (const p of partitionLoops.keys()) {
      if (!owned.has(p)) inputs.interrupt(consumerNames.routerEvents(p));
    }
    for (const [p, spec] of partitionConsumers.entries()) {
      if (!owned.has(p) || partitionLoops.has(p)) continue;
      const loop = inputs
        .consume(spec, () => owned.has(p))
        .finally(() => {
          partitionLoops.delete(p);
          // Given back, then taken again while this loop wound down: pull it again.
          if (!stopping && owned.has(p)) takePartitions(owned);
        });
      partitionLoops.set(p, loop);
    }
  };
  const membership = await joinPartitions({ bus, log, partitions: EVENT_PARTITIONS, onChange: takePartitions });
  log.info('router started', { prefix, workflows: registry.names(), member: membership.member });

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  const health = (): ServiceHealth => {
    const natsUp = bus.connected;
    const mongoUp = mongoConnected();
    const held = [...owned].sort((a, b) => a - b);
    const idle = held.filter((p) => !inputs.isConsuming(consumerNames.routerEvents(p)));
    const streamsConsumed = inputs.isConsuming(inboxConsumer.durable) && idle.length === 0;
    return {
      live: !stopping,
      ready: !stopping && natsUp && mongoUp && streamsConsumed,
      details: {
        nats: natsUp,
        mongodb: mongoUp,
        consuming: streamsConsumed,
        partitions: owned.size,
        // Which partitions this router holds, and those of them it is not pulling (retrying).
        held,
        idle,
        appendRaces: decider.appendRaces,
        inFlight: inputs.inFlight(),
        ...counters,
      },
    };
  };
  const healthSub = serveHealth(bus, 'router', id, health);
  let stopped: Promise<void> | undefined;
  return {
    name: 'router',
    id,
    closed,
    health,
    stop(stopOpts = {}) {
      stopped ??= (async () => {
        stopping = true;
        membership.leave();
        sweeper.stop();
        inputs.stop();
        healthSub.unsubscribe();
        for (const s of requestSubs) s.unsubscribe();
        const deadline = stopOpts.deadlineMs ?? 10_000;
        await Promise.race([
          (async () => {
            await Promise.allSettled([inboxLoop, ...partitionLoops.values()]);
            await decider.drain();
          })(),
          new Promise((r) => setTimeout(r, deadline)),
        ]);
        if (ownedBus) await bus.close();
        await store?.close();
        await mongo?.close();
        log.info('router stopped', counters);
        resolveClosed();
      })();
      return stopped;
    },
  };
}

/**
 * Removes the single events durable of routers before partitioning, where one is left: nobody
 * pulls it any more, and its growing pending count would only mislead.
 */
async function deleteUnpartitionedConsumer(bus: Bus): Promise<void> {
  try {
    await bus.jsm.consumers.delete(bus.streams.events, consumerNames.router);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === 10014)) throw err;
  }
}

/** Retries the router's stream and consumer setup while NATS is briefly away, logging each try. */
async function retryWithBackoffLogged<T>(fn: () => Promise<T>, log: Logger): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isRetryableNatsError(err)) throw err;
      const delayMs = backoffDelay(attempt);
      log.warn('router setup failed, retrying', { err, attempt, delayMs });
      await sleep(delayMs);
    }
  }
}

function required(name: string, value: string | undefined): string {
  if (!value) throw new ConfigError(`${name} is not set and no ${name === 'NATS_URL' ? 'bus' : 'store'} was given`);
  return value;
}

/** The store, calling `hook` for each commit it appended (test-only crash points). */
function withAppendHook(store: Store, hook: (commit: StoredCommit) => void): Store {
  return {
    ...store,
    appendCommits: async (commits) => {
      const results = await store.appendCommits(commits);
      commits.forEach((c, i) => {
        if (results[i] === undefined) hook(c);
      });
      return results;
    },
  };
}
