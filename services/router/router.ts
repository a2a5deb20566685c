/**
 * The router service: owns decisions. Consumes user inputs (inbox stream) and engine inputs
 * (events stream) from shared durable consumers, folds each into its run through the pure
 * engine, appends the commit, publishes the commands, then acks (see outbox.ts). Answers requests on core NATS.
 * Stateless: any number of routers may run; optimistic concurrency on append keeps them honest.
 *
 * This file wires the parts: connect (bus, store), set up consumers, then run a RouterService
 * (the decider, the input handler and its pulls, the partitions this router holds, its upkeep,
 * requests and health) until stopped, checking open run versions once it runs.
 */
import type { Subscription } from '@nats-io/transport-node';
import type { MongoClient } from 'mongodb';
import type { Registry } from 'prom-client';
import { retryWithBackoff } from '../../shared/bus/backoff.js';
import type { Bus } from '../../shared/bus/connect.js';
import { toSquallError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { consumerNames, EVENT_PARTITIONS } from '../../shared/names.js';
import type { Store, StoredCommit } from '../../shared/store/types.js';
import { serviceRegistry } from '../common/metrics.js';
import {
  connectStore,
  deferred,
  resolveBus,
  type ServiceHandle,
  type ServiceHealth,
  type StopOptions,
  serveHealth,
} from '../common/service.js';
import { InputConsumer } from './consume.js';
import { type RouterConsumerSpecs, routerConsumerSpecs, setupRouterConsumers } from './consumers.js';
import { RunDecider } from './decider.js';
import { serveDefinitions } from './definitions-feed.js';
import { DirectResults } from './direct-results.js';
import { EventFanout, EventWatch } from './events/index.js';
import type { RouterFaultHooks } from './fault-hooks.js';
import { StartGate } from './flow/index.js';
import { InputHandler } from './handle-input.js';
import { InlineSteps } from './inline-steps.js';
import { RouterMetrics } from './metrics.js';
import { type CompiledRouterOptions, cacheLimits, compileRouterOptions, type RouterOptionsInput } from './options.js';
import type { OutboundMessage } from './outbox.js';
import { joinPartitions, type PartitionMembership } from './partitions.js';
import { serveRouterRequests } from './requests.js';
import { cacheReporter } from './run-cache-report.js';
import { startRetentionSweeps } from './sweeps.js';
import { checkOpenRunVersions, registerRouterVersions } from './versions.js';

/** A running router: the common service handle. */
export type RouterHandle = ServiceHandle;

/**
 * Starts a router: `opts` merged over defaultRouterOptions(). Resolves once it consumes the inbox
 * and has joined the routers sharing the events partitions.
 */
export function startRouter(opts: RouterOptionsInput): Promise<ServiceHandle> {
  return launchRouter(opts, {});
}

/** startRouter with test-only fault hooks (see withRouterFaults); not part of the public API. */
export async function launchRouter(opts: RouterOptionsInput, faults: RouterFaultHooks): Promise<ServiceHandle> {
  const o = compileRouterOptions(opts);
  const metrics = new RouterMetrics(serviceRegistry('router', o.metrics));
  const res = await connectRouterResources(o, metrics);
  try {
    const specs = routerConsumerSpecs(res.bus);
    const inboxEpoch = await setupRouterConsumers(res.bus, specs, o.ackWaitMs, o.log);
    const stopVersionRefresh = await registerRouterVersions(res.store, o.workflows, o.log);
    const service = await RouterService.start(o, res, specs, inboxEpoch, faults, metrics).catch((err: unknown) => {
      stopVersionRefresh();
      throw err;
    });
    void service.closed.finally(stopVersionRefresh);
    if (o.requireOpenRunVersions) void service.checkOpenRunVersions();
    return service;
  } catch (err) {
    o.log.error('router refused to start', { err });
    metrics.stop();
    await res.close();
    throw err;
  }
}

/** The connections a router runs on, and which of them it owns (and so closes). */
interface RouterResources {
  bus: Bus;
  store: Store;
  mongoConnected: () => boolean;
  /** Closes what the router opened; a given bus stays open. */
  close(): Promise<void>;
}

async function connectRouterResources(o: CompiledRouterOptions, metrics: RouterMetrics): Promise<RouterResources> {
  const { bus, owned: ownsBus } = await resolveBus(
    { natsUrl: o.natsUrl, nats: o.nats, bus: o.bus, prefix: o.prefix, log: o.log, streams: o.streams },
    `squall-${o.id}`,
  );
  let mongo: MongoClient | undefined;
  let store = o.store;
  let mongoConnected = (): boolean => true;
  // A given store's client is the caller's to close, but its events are this router's to count.
  if (store?.mongo) metrics.watchMongo(store.mongo);
  if (!store) {
    try {
      const owned = await connectStore({
        mongoUrl: o.mongoUrl,
        dbName: o.dbName,
        collectionPrefix: o.prefix,
        log: o.log,
        metrics,
        retentionMs: o.retentionMs,
      });
      ({ mongo, store } = owned);
      mongoConnected = owned.connected;
    } catch (err) {
      if (ownsBus) await bus.close();
      throw err;
    }
  }
  metrics.watchNats(bus.nc, () => bus.connected);
  const st = store;
  return {
    bus,
    store: st,
    mongoConnected,
    async close() {
      if (ownsBus) await bus.close();
      // Store.close releases nothing shared, so a given store is closed too, as it always was.
      await st.close();
      await mongo?.close();
    },
  };
}

/**
 * The events partitions this router holds, each pulled by a loop of its own. A partition given
 * back has its pull interrupted; one taken again while its old loop winds down is pulled again.
 */
class PartitionPulls {
  private owned: ReadonlySet<number> = new Set();
  private readonly loops = new Map<number, Promise<void>>();

  constructor(
    private readonly specs: RouterConsumerSpecs,
    private readonly inputs: InputConsumer,
    private readonly isStopping: () => boolean,
  ) {}

  /** Takes the partitions in `next`, giving back those not in it. */
  take(next: ReadonlySet<number>): void {
    this.owned = next;
    for (const p of this.loops.keys()) {
      if (!this.owned.has(p)) this.inputs.interrupt(consumerNames.routerEvents(p));
    }
    for (const [p, spec] of this.specs.partitions.entries()) {
      if (!this.owned.has(p) || this.loops.has(p)) continue;
      const loop = this.inputs
        .consume(spec, () => this.owned.has(p))
        .finally(() => {
          this.loops.delete(p);
          if (!this.isStopping() && this.owned.has(p)) this.take(this.owned);
        });
      this.loops.set(p, loop);
    }
  }

  /** The partitions held, ascending. */
  held(): number[] {
    return [...this.owned].sort((a, b) => a - b);
  }

  /** The loops still running. */
  running(): Promise<void>[] {
    return [...this.loops.values()];
  }
}

/** A running router (see the file header); built by launchRouter once its connections are up. */
class RouterService implements ServiceHandle {
  readonly name = 'router';
  readonly id: string;
  readonly metrics: Registry;
  private readonly done = deferred();
  readonly closed = this.done.promise;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  /** Where the open run versions check is (see checkOpenRunVersions); shown in health details. */
  private versionsCheck: 'off' | 'running' | 'passed' | 'failed' = 'off';
  private membership: PartitionMembership | undefined;
  private readonly handler: InputHandler;
  private readonly inputs: InputConsumer;
  private readonly partitions: PartitionPulls;
  private readonly direct: DirectResults;
  private readonly inboxLoop: Promise<void>;
  private readonly fanout: EventFanout;
  private readonly subs: Subscription[];
  private readonly stopUpkeep: () => void;

  private constructor(
    private readonly o: CompiledRouterOptions,
    private readonly res: RouterResources,
    private readonly specs: RouterConsumerSpecs,
    private readonly decider: RunDecider,
    inboxEpoch: string,
    private readonly meters: RouterMetrics,
  ) {
    this.id = o.id;
    this.metrics = meters.registry;
    const { bus } = res;
    const { maxInputBytes } = o;
    const startGate = new StartGate({ bus, store: res.store, registry: o.workflows, clock: o.clock });
    this.handler = new InputHandler({
      bus,
      decider,
      log: o.log,
      inboxEpoch,
      maxInputBytes,
      metrics: meters,
      startGate,
    });
    meters.follow({
      appendRaces: () => decider.appendRaces,
      redelivered: () => this.handler.counters.redelivered,
      cache: () => decider.cacheStats(),
    });
    this.inputs = new InputConsumer({
      bus,
      log: o.log,
      handle: (m) => this.handler.handle(m),
      maxInFlight: o.maxInFlight,
      ackWaitMs: o.ackWaitMs,
    });
    this.partitions = new PartitionPulls(specs, this.inputs, () => this.stopping);
    this.direct = new DirectResults({ bus, log: o.log, offer: (m) => this.inputs.offer(m), now: () => o.clock.now() });
    this.subs = serveRouterRequests({
      nc: bus.nc,
      subjects: bus.subjects,
      store: res.store,
      registry: o.workflows,
      decider,
      reply: (msg, body) => bus.reply(msg, body),
      log: o.log,
      maxInputBytes: o.maxInputBytes,
      readBody: (msg) => bus.readBody(msg),
      takenWaitMs: o.takenWaitMs,
    });
    const stopCacheUpkeep = startUpkeep(decider, o.upkeepIntervalMs, o.log, cacheReporter(decider, o));
    const stopSweeps = startRetentionSweeps(res.store, o.retentionSweepIntervalMs, o.log, (runIds) => {
      for (const runId of runIds) decider.forget(runId);
    });
    this.stopUpkeep = () => {
      stopCacheUpkeep();
      stopSweeps();
    };
    this.inboxLoop = this.inputs.consumeInbox(specs.inbox);
    this.fanout = new EventFanout({ bus, index: res.store.eventWaits, log: o.log, ackWaitMs: o.ackWaitMs });
    this.subs.push(serveHealth(bus, 'router', this.id, () => this.health()));
    this.subs.push(
      serveDefinitions({
        nc: bus.nc,
        subjects: bus.subjects,
        registry: o.workflows,
        store: res.store,
        log: o.log,
        reply: (m, b) => bus.reply(m, b),
      }),
    );
  }

  /** Builds the decider and the service, and joins the routers sharing the events partitions. */
  static async start(
    o: CompiledRouterOptions,
    res: RouterResources,
    specs: RouterConsumerSpecs,
    inboxEpoch: string,
    faults: RouterFaultHooks,
    metrics: RouterMetrics,
  ): Promise<RouterService> {
    const events = new EventWatch(res.bus, res.store.eventWaits, o.log);
    const decider = new RunDecider({
      store: metrics.timeAppends(withFaults(res.store, faults)),
      registry: o.workflows,
      subjects: res.bus.subjects,
      log: o.log,
      clock: o.clock,
      summaryDelayMs: o.summaryDelayMs,
      cacheSize: o.runCacheSize,
      cacheBytes: o.runCacheBytes,
      cacheTtlMs: o.runCacheTtlMs,
      publish: publisher(res.bus, faults),
      watchEvents: (ctx, cmd) => events.apply(ctx, cmd),
      ...(o.inlineActivities.size === 0
        ? {}
        : {
            inline: new InlineSteps({
              activities: o.inlineActivities,
              clock: o.clock,
              log: o.log,
              keepAliveMs: Math.max(1, Math.floor(o.ackWaitMs / 3)),
            }),
          }),
    });
    const service = new RouterService(o, res, specs, decider, inboxEpoch, metrics);
    service.membership = await joinPartitions({
      bus: res.bus,
      log: o.log,
      partitions: EVENT_PARTITIONS,
      now: () => o.clock.now(),
      onChange: (next) => {
        service.partitions.take(next);
        if (o.directResults) service.direct.take(next);
      },
    });
    o.log.info('router started', {
      prefix: o.prefix,
      workflows: o.workflows.names(),
      member: service.membership.member,
    });
    return service;
  }

  /**
   * Stops the router when open runs use a workflow version it does not register, logging the
   * ConfigError as `error` (the CLI then exits 1). Run after start, not before: it reads every open
   * run's summary, which grows with the store (3.3 s at 20k open runs against 0.8 s for the whole
   * start), while deciding in the meantime is safe: an input of a run whose version is missing is
   * left to be redelivered (RunDecider.definition), so the check is an operator's guard, not a
   * correctness one. A store briefly away is waited for; a missing version is final.
   */
  async checkOpenRunVersions(): Promise<void> {
    this.versionsCheck = 'running';
    try {
      await retryWithBackoff(() => checkOpenRunVersions(this.res.store, this.o.workflows), {
        isRetryable: (err) => !this.stopping && toSquallError(err).retryable,
        onRetry: (err, attempt, delayMs) =>
          this.o.log.warn('open run versions check failed, retrying', { err, attempt, delayMs }),
      });
      this.versionsCheck = 'passed';
    } catch (err) {
      if (this.stopping) return;
      this.versionsCheck = 'failed';
      const e = toSquallError(err);
      this.o.log.error('router refused to serve: stopping', {
        error: { code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) },
      });
      await this.stop();
    }
  }

  /** `live` = not stopped; `ready` = connected to NATS and MongoDB and consuming both streams. */
  health(): ServiceHealth {
    const natsUp = this.res.bus.connected;
    const mongoUp = this.res.mongoConnected();
    const held = this.partitions.held();
    const idle = held.filter((p) => !this.inputs.isConsuming(consumerNames.routerEvents(p)));
    const streamsConsumed = this.inputs.isConsuming(this.specs.inbox.durable) && idle.length === 0;
    return {
      live: !this.stopping,
      ready: !this.stopping && natsUp && mongoUp && streamsConsumed,
      details: {
        nats: natsUp,
        mongodb: mongoUp,
        consuming: streamsConsumed,
        partitions: held.length,
        // Which partitions this router holds, and those of them it is not pulling (retrying).
        held,
        idle,
        versionsCheck: this.versionsCheck,
        appendRaces: this.decider.appendRaces,
        cache: { ...this.decider.cacheStats(), ...cacheLimits(this.o) },
        inFlight: this.inputs.inFlight(),
        ...this.handler.counters,
      },
    };
  }

  /** Stops consuming, waits for in-flight decisions (up to the deadline), closes what it opened. */
  stop(opts: StopOptions = {}): Promise<void> {
    this.stopped ??= this.shutdown(opts.deadlineMs ?? 10_000);
    return this.stopped;
  }

  private async shutdown(deadlineMs: number): Promise<void> {
    this.stopping = true;
    this.membership?.leave();
    this.stopUpkeep();
    this.inputs.stop();
    this.direct.stop();
    for (const s of this.subs) s.unsubscribe();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      (async () => {
        await Promise.allSettled([this.inboxLoop, this.fanout.stop(), ...this.partitions.running()]);
        await this.decider.drain();
      })(),
      new Promise((r) => {
        timer = setTimeout(r, deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    await this.res.close();
    this.meters.stop();
    this.o.log.info('router stopped', { ...this.handler.counters, cache: this.decider.cacheStats() });
    this.done.resolve();
  }
}

/**
 * The router's periodic upkeep, every `intervalMs` until the returned stop is called, never
 * overlapping itself: the legacy outbox drain until it succeeds once (at start, see
 * Outbox.drainLegacy), then the summaries whose writes failed (see RunDecider.payOwedSummaries);
 * and each round, the cached runs past their time to live are dropped and evictions logged.
 */
function startUpkeep(decider: RunDecider, intervalMs: number, log: Logger, reportCache: () => void): () => void {
  let drained = false;
  let busy = false;
  const once = (): void => {
    decider.sweepCache();
    reportCache();
    if (busy) return;
    busy = true;
    (async () => {
      if (!drained) {
        await decider.outbox.drainLegacy();
        drained = true;
      }
      await decider.payOwedSummaries();
    })()
      .catch((err: unknown) => log.warn('router upkeep failed; the next round tries again', { err }))
      .finally(() => {
        busy = false;
      });
  };
  once();
  const timer = setInterval(once, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Publishes a command message: JetStream-acked, or for the inbox (no acks) core NATS + flush. */
function publisher(bus: Bus, faults: RouterFaultHooks): (m: OutboundMessage) => Promise<void> {
  return async (m) => {
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
  };
}

/** The store, calling `hook` for each commit it appended (test-only crash points). */
/** The store with the router's test-only crash points around its writes (none in production). */
function withFaults(store: Store, faults: RouterFaultHooks): Store {
  const wrapped = faults.wrapStore ? faults.wrapStore(store) : store;
  return faults.afterAppend ? withAppendHook(wrapped, faults.afterAppend) : wrapped;
}

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
    appendChain: async (commits) => {
      const appended = await store.appendChain(commits);
      for (const c of commits.slice(0, appended.stored)) hook(c);
      return appended;
    },
  };
}
