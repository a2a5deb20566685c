/**
 * The router service: owns decisions. Consumes user inputs (inbox stream) and engine inputs
 * (events stream) from shared durable consumers, folds each into its run through the pure
 * engine, appends the commit, publishes the commands, then acks. Answers requests on core NATS.
 * Stateless: any number of routers may run; optimistic concurrency on append keeps them honest.
 */
import { randomUUID } from 'node:crypto';
import type { ConsumerMessages } from '@nats-io/jetstream';
import { AckPolicy, DeliverPolicy, JetStreamApiError, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Subscription } from '@nats-io/transport-node';
import type { MongoClient } from 'mongodb';
import { backoffDelay, sleep } from '../bus/backoff.js';
import { decodeBody } from '../bus/codec.js';
import { type Bus, connectBus } from '../bus/connect.js';
import { isRetryableNatsError } from '../bus/errors.js';
import type { WorkflowDefinition } from '../engine/index.js';
import { WorkflowRegistry } from '../engine/index.js';
import { ConfigError, InvalidInputError, type SquallError, toErrorInfo, toSquallError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import { consumerNames, DEFAULT_PREFIX } from '../names.js';
import type { Store } from '../store/types.js';
import type { OutboundMessage } from './outbox.js';
import { type DecideOutcome, RunDecider } from './router-decider.js';
import {
  checkInputSize,
  type DeadLetterReason,
  deadLetterReason,
  parseRouterInput,
  type RouterInput,
} from './router-inputs.js';
import { type StartedNotice, serveRouterRequests } from './router-requests.js';
import { connectStore, type ServiceHealth, serveHealth } from './service.js';

/**
 * Test-only fault hooks, called around every command publish of a decision (after its commit is
 * stored, before the input is acked). The CLI builds them from `SQUALL_FAULT` to crash a router at
 * exactly those points; nothing else should set them.
 */
export interface RouterFaultHooks {
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
  /** Ack wait of the router's consumers. @default 30_000 */
  ackWaitMs?: number;
  /** Test-only crash points (see RouterFaultHooks). */
  faults?: RouterFaultHooks;
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

/** Most messages one pull asks for. */
const FETCH_BATCH = 256;
/** How long one pull waits for messages before the next is sent. */
const FETCH_EXPIRES_MS = 2_000;

/** Delivery attempts a signal for a not-yet-visible run waits before being dead-lettered. */
const UNKNOWN_RUN_REDELIVERIES = 6;

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

  const decider = new RunDecider({
    store: st,
    registry,
    subjects: bus.subjects,
    log,
    publish: async (m) => {
      faults.beforePublish?.(m);
      await bus.publish(m.subject, m.body, { msgId: m.msgId });
      faults.afterPublish?.(m);
    },
  });

  const setup = async () => {
    const inboxInfo = await bus.jsm.streams.info(bus.streams.inbox);
    await ensureRouterConsumer(bus.jsm, bus.streams.inbox, ackWaitMs);
    await ensureRouterConsumer(bus.jsm, bus.streams.events, ackWaitMs);
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
  const stopSignal = new AbortController();
  const consuming = new Map<string, boolean>();
  let inFlight = 0;
  const maxInFlight = opts.maxInFlight ?? 1024;
  const slotWaiters: (() => void)[] = [];
  const counters = { decided: 0, deadLettered: 0, redelivered: 0, dropped: 0 };

  const notifyStarted = (n: StartedNotice): void => {
    try {
      bus.publishCore(bus.subjects.started(n.workflowId), n);
    } catch (err) {
      log.debug('could not publish a started notice', { workflowId: n.workflowId, err });
    }
  };

  const deadLetter = async (m: JsMsg, reason: DeadLetterReason, err: unknown): Promise<void> => {
    counters.deadLettered++;
    await bus.parkDeadLetter(reason, { subject: m.subject, data: m.data, headers: m.headers }, err);
    // No reason argument: nats-server before 2.10.4 ignores `+TERM <reason>` as an unknown ack
    // and redelivers the message after the ack wait, parking it again and again. The reason is
    // on the dead letter.
    m.term();
  };

  /** Checks size, decodes and parses a consumed message; errors carry their dead-letter reason. */
  const parseInbound = (m: JsMsg): RouterInput => {
    checkInputSize(m.subject, m.data, maxInputBytes);
    let body: unknown;
    try {
      body = decodeBody(m.data, m.headers, m.subject);
    } catch (err) {
      throw new InvalidInputError(toSquallError(err).message, { cause: err, details: { reason: 'undecodable' } });
    }
    return parseRouterInput(bus.subjects, m.subject, body);
  };
  const handle = async (m: JsMsg): Promise<void> => {
    const msgId = m.headers?.get('Nats-Msg-Id') || undefined;
    log.debug('input taken', { subject: m.subject, seq: m.info.streamSequence, deliveries: m.info.deliveryCount });
    let input: RouterInput;
    try {
      input = parseInbound(m);
    } catch (err) {
      await deadLetter(m, deadLetterReason(err), err);
      return;
    }
    try {
      const outcome: DecideOutcome = await decider.process(input, {
        startKey: `${inboxEpoch}/${m.info.streamSequence}`,
        ...(msgId ? { msgId } : {}),
      });
      counters.decided++;
      log.debug('input decided', { subject: m.subject, seq: m.info.streamSequence, outcome: outcome.kind });
      if (outcome.kind === 'started') {
        notifyStarted({
          workflowId: outcome.workflowId,
          runId: outcome.runId,
          created: outcome.created,
          ...(msgId ? { msgId } : {}),
        });
      } else if (outcome.kind === 'dropped') {
        counters.dropped++;
        if (input.kind === 'signal' || input.kind === 'cancel') {
          await deadLetter(m, 'closed-run', new Error(`run ${outcome.runId} of ${outcome.workflowId} is closed`));
          return;
        }
        log.debug('input for a closed run dropped', {
          workflowId: outcome.workflowId,
          runId: outcome.runId,
          kind: input.kind,
        });
      }
      m.ack();
    } catch (err) {
      const e = toSquallError(err);
      const reason = deadLetterReason(e);
      if (input.kind === 'start' && !e.retryable) {
        const wfId = input.workflowId;
        if (wfId) notifyStarted({ workflowId: wfId, error: toErrorInfo(e), ...(msgId ? { msgId } : {}) });
        if (e.code === 'ALREADY_STARTED') {
          m.ack();
          return;
        }
      }
      if (
        e.code === 'NOT_FOUND' &&
        reason === 'unknown-run' &&
        e.retryable &&
        m.info.deliveryCount < UNKNOWN_RUN_REDELIVERIES
      ) {
        // A signal may overtake its start on another router: give the start time to land.
        counters.redelivered++;
        m.nak(backoffDelay(m.info.deliveryCount, { initialMs: 200, maxMs: 2_000 }) + 100);
        return;
      }
      if (refusesInput(e, reason)) {
        log.warn('input refused', { subject: m.subject, code: e.code, err: e, reason });
        await deadLetter(m, e.code === 'NONDETERMINISM' ? 'nondeterminism' : reason, e);
        return;
      }
      // Anything else is our trouble, not the input's (a server away, a store error): keep the
      // input and try again later, however many times it takes; only bad input is parked.
      counters.redelivered++;
      const delayMs = backoffDelay(m.info.deliveryCount);
      const fields = { subject: m.subject, code: e.code, err: e, deliveries: m.info.deliveryCount, delayMs };
      if (e.retryable) log.warn('decision failed for a passing reason; redelivering', fields);
      else log.error('decision failed; redelivering', fields);
      m.nak(delayMs);
    }
  };

  const active = new Set<ConsumerMessages>();
  const consumeLoop = async (stream: string): Promise<void> => {
    let failures = 0;
    while (!stopping) {
      let messages: ConsumerMessages | undefined;
      try {
        const consumer = await bus.js.consumers.get(stream, consumerNames.router);
        if (!consuming.get(stream)) log.info('consuming', { stream, afterFailures: failures });
        consuming.set(stream, true);
        // Bounded pulls, not consume(): under a busy event loop consume() can miss its idle
        // heartbeats and sit on a lost pull for a whole heartbeat window (seen as 30 s stalls).
        // A fetch that goes missing costs at most its expiry.
        while (!stopping) {
          messages = await consumer.fetch({ max_messages: FETCH_BATCH, expires: FETCH_EXPIRES_MS });
          active.add(messages);
          if (stopping) messages.stop();
          for await (const m of messages) {
            failures = 0;
            if (inFlight >= maxInFlight) await new Promise<void>((r) => slotWaiters.push(r));
            inFlight++;
            void handle(m)
              .catch((err: unknown) => {
                log.error('unexpected failure handling an input; redelivering', { subject: m.subject, err });
                m.nak(1000);
              })
              .finally(() => {
                inFlight--;
                slotWaiters.shift()?.();
              });
          }
          active.delete(messages);
        }
        if (!stopping) throw new Error(`the consumer of ${stream} ended`);
      } catch (err) {
        if (stopping) break;
        consuming.set(stream, false);
        const delayMs = backoffDelay(failures++);
        log.warn('consumer loop failed; retrying', { stream, err, delayMs });
        await sleep(delayMs, stopSignal.signal);
        // The durable may have been deleted (or the stream recreated): make sure it exists.
        await ensureRouterConsumer(bus.jsm, stream, ackWaitMs).catch(() => undefined);
      } finally {
        if (messages) {
          active.delete(messages);
          messages.stop();
        }
      }
    }
  };

  const sweepOutbox = async (): Promise<void> => {
    const stale = await st.findUnpublished({ olderThan: Date.now() - (opts.outboxIntervalMs ?? 5_000), limit: 256 });
    for (const c of stale) {
      const run = await decider.load(c.runId);
      if (!run) continue;
      log.info('republishing commands of a commit left unpublished', { runId: c.runId, seq: c.seq });
      await decider.publishCommit(c, run.state);
    }
  };
  let sweeping = false;
  const sweepOnce = (): void => {
    if (sweeping) return; // a slow sweep (a scan on FerretDB) must not pile up behind itself
    sweeping = true;
    sweepOutbox()
      .catch((err: unknown) => log.warn('outbox sweep failed', { err }))
      .finally(() => {
        sweeping = false;
      });
  };
  sweepOnce();
  const sweeper = setInterval(sweepOnce, opts.outboxIntervalMs ?? 5_000);
  sweeper.unref();

  const loops = [consumeLoop(bus.streams.inbox), consumeLoop(bus.streams.events)];
  log.info('router started', { prefix, workflows: registry.names() });

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  const health = (): ServiceHealth => {
    const natsUp = bus.connected;
    const mongoUp = mongoConnected();
    const streamsConsumed = [bus.streams.inbox, bus.streams.events].every((s) => consuming.get(s) === true);
    return {
      live: !stopping,
      ready: !stopping && natsUp && mongoUp && streamsConsumed,
      details: { nats: natsUp, mongodb: mongoUp, consuming: streamsConsumed, inFlight, ...counters },
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
        stopSignal.abort();
        clearInterval(sweeper);
        for (const m of active) m.stop();
        for (const w of slotWaiters.splice(0)) w();
        healthSub.unsubscribe();
        for (const s of requestSubs) s.unsubscribe();
        const deadline = stopOpts.deadlineMs ?? 10_000;
        await Promise.race([
          (async () => {
            await Promise.allSettled(loops);
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

/** Error codes that say the input itself is wrong: it is parked, never tried again. */
const INPUT_FAULTS: ReadonlySet<string> = new Set(['INVALID_INPUT', 'PAYLOAD_TOO_LARGE', 'NONDETERMINISM']);

/**
 * True when a failed decision is the input's fault and it should be dead-lettered: bad input, a
 * nondeterministic definition, or (past its redeliveries) a run that does not exist. A store or
 * server failure never is, retryable or not: a dead-lettered real input would strand its run.
 */
function refusesInput(e: SquallError, reason: DeadLetterReason): boolean {
  if (e.code === 'NOT_FOUND') return reason === 'unknown-run';
  return INPUT_FAULTS.has(e.code);
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

async function ensureRouterConsumer(jsm: JetStreamManager, stream: string, ackWaitMs: number): Promise<void> {
  const config = {
    durable_name: consumerNames.router,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: ackWaitMs * 1_000_000,
    max_deliver: -1,
    max_ack_pending: 4096,
  };
  try {
    await jsm.consumers.add(stream, config);
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.consumers.update(stream, consumerNames.router, {
      ack_wait: config.ack_wait,
      max_ack_pending: config.max_ack_pending,
    });
  }
}
