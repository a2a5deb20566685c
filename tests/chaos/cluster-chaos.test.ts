/**
 * Cluster chaos: order runs (charge, an approval signal or a 1 s approval timer, then ship and
 * email) on a 3-node nats-server cluster with R3 streams, served by 2 routers, 2 executors and a
 * timer service (separate processes, each given every node's URL), while the driver SIGKILLs the
 * node leading the inbox stream and restarts it, and then another node. Afterwards, from MongoDB
 * and JetStream: every run completed exactly once with the right output, every history is
 * gapless with each activity completion and timer firing recorded once, each order was charged
 * under one charge id (no duplicate effect: the activity executions are counted and the results
 * recorded compared), and no consumer holds an unacked or undelivered message.
 *
 * Short by default (`npm test`); `SQUALL_CLUSTER_CHAOS_RUNS=2000 SQUALL_CLUSTER_CHAOS_SECONDS=240`
 * is the long form (`npm run test:stress`). Prints one JSON summary line on stderr.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionNames, streamNames } from '../../shared/names.js';
import { createMongoStore } from '../../shared/store/index.js';
import { SAMPLE, type ServiceEnv, type ServiceProcess, spawnSquall } from '../e2e/processes.js';
import { connectNats, freshDbName, freshPrefix, mongoUrl, waitFor } from '../harness/index.js';
import { type NatsCluster, startNatsCluster } from '../harness/nats-cluster.js';
import {
  checkOrderRuns,
  countExecutions,
  deadLetterReasons,
  orderConsumers,
  reruns,
  waitUntilDrained,
} from './order-checks.js';
import { isRunning, isStarted, orderDriver, waitUntilStarted } from './order-driver.js';

const RUNS = Number(process.env.SQUALL_CLUSTER_CHAOS_RUNS ?? 500);
const SECONDS = Number(process.env.SQUALL_CLUSTER_CHAOS_SECONDS ?? 40);
/** How long the driver waits for a start or an approval to show before sending it again. */
const RESEND_MS = 45_000;
/** How long a killed node stays down before its restart. */
const DOWN_MS = 3_000;

let cluster: NatsCluster;
let env: ServiceEnv;
let nc: NatsConnection;
const services: ServiceProcess[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster();
  env = { natsUrl: cluster.urls, mongoUrl: mongoUrl(), prefix: freshPrefix(), dbName: freshDbName() };
  const r3 = ['--stream-replicas', '3'];
  // The first creates the R3 streams and the indexes; the rest start together.
  services.push(spawnSquall('router-1', ['router', '--workflows', SAMPLE.workflows, ...r3], env));
  await waitFor('router-1 to start', () => isStarted(services[0] as ServiceProcess), { timeoutMs: 60_000 });
  services.push(
    spawnSquall('router-2', ['router', '--workflows', SAMPLE.workflows, ...r3], env),
    spawnSquall('executor-1', ['executor', '--activities', SAMPLE.activities, ...r3], env),
    spawnSquall('executor-2', ['executor', '--activities', SAMPLE.activities, ...r3], env),
    spawnSquall('timer-1', ['timer', ...r3], env),
  );
  await waitUntilStarted(services, 150_000);
  nc = await connectNats(cluster.urls, { maxReconnectAttempts: -1, reconnectTimeWait: 250 });
}, 240_000);

afterAll(async () => {
  for (const p of services) p.kill('SIGKILL');
  await cluster?.stop();
});

/** The node (by index) leading `stream` now, as the stream's cluster info names it. */
async function leaderOf(stream: string): Promise<number | undefined> {
  const info = await (await jetstreamManager(nc)).streams.info(stream);
  const leader = info.cluster?.leader;
  const i = leader === undefined ? -1 : Number(leader.replace(/^n/, '')) - 1;
  return i >= 0 && i < cluster.nodes.length ? i : undefined;
}

describe('cluster chaos', () => {
  it(
    `${RUNS} order runs with timers and signals survive SIGKILLs of two NATS nodes, each completed exactly once`,
    async () => {
      const names = streamNames(env.prefix);
      const jsm = await jetstreamManager(nc);
      for (const info of [await jsm.streams.info(names.inbox), await jsm.streams.info(names.events)]) {
        expect(info.config.num_replicas).toBe(3);
      }
      const began = Date.now();
      const windowMs = SECONDS * 1000;
      const driver = await orderDriver(nc, env, RUNS, 'cc');
      const { plans, completed, mongo, runs, sendStart, sendApprove, counts } = driver;
      const nodeKills: string[] = [];

      // ---- the chaos: the inbox's leader dies at 25% of the window, another node at 60% ----
      const chaos = (async () => {
        let first: number | undefined;
        for (const [at, stream] of [
          [0.25, names.inbox],
          [0.6, names.events],
        ] as const) {
          await new Promise((r) => setTimeout(r, Math.max(0, began + windowMs * at - Date.now())));
          let victim = (await leaderOf(stream).catch(() => undefined)) ?? 0;
          if (victim === first) victim = (victim + 1) % cluster.nodes.length;
          first ??= victim;
          const node = cluster.nodes[victim];
          if (!node) throw new Error(`no node ${victim}`);
          node.kill('SIGKILL');
          nodeKills.push(`n${victim + 1} (leader of ${stream})`);
          await new Promise((r) => setTimeout(r, DOWN_MS));
          await node.restart();
          await cluster.waitForMetaLeader();
        }
      })();

      // ---- the workload: starts paced over the first 60% of the window ----
      const starter = driver.paceStarts(windowMs);

      const claims = mongo.db(env.dbName).collection<{ workflowId: string }>(collectionNames(env.prefix).workflowIds);
      const reconcile = async (): Promise<void> => {
        const { now, missing, open } = await driver.look();
        // A run's summary lags its start (more so on a loaded machine); its workflowId claim does not.
        const lost = missing.filter((p) => now - (p.startSentAt ?? now) > RESEND_MS);
        const claimed = new Set(
          lost.length === 0
            ? []
            : (await claims.find({}, { projection: { workflowId: 1 } }).toArray()).map((c) => c.workflowId),
        );
        // Lost on its way to a dying node: sent again with the same msg id (dropped if it did
        // arrive within the 2 min duplicate window; a claimed workflowId answers it after).
        for (const p of lost) if (!claimed.has(p.id)) sendStart(p);
        for (const { plan: p, doc: d } of open) {
          // A summary can lag its run by minutes on a loaded machine, and a signal in the inbox is
          // durable: send again only what may have been lost with a dying node's connection.
          if (p.approve && d.stateValue === 'awaitingApproval') {
            if (p.signalSentAt === undefined || now - p.signalSentAt > RESEND_MS) sendApprove(p);
          }
        }
      };
      await waitFor(
        `${RUNS} runs to complete`,
        async () => {
          await reconcile();
          return completed.size === RUNS;
        },
        { timeoutMs: windowMs + Math.max(180_000, RUNS * 200), intervalMs: 1_000 },
      ).catch((err: unknown) => {
        const open = plans.filter((p) => !completed.has(p.id)).slice(0, 10);
        throw new Error(`${completed.size} of ${RUNS} runs completed; open e.g. ${JSON.stringify(open)}`, {
          cause: err,
        });
      });
      const completedAfter = (Date.now() - began) / 1000;
      await chaos;
      await starter;

      // ---- nothing left anywhere: every service up, every consumer drained ----
      expect(services.filter((p) => !isRunning(p)).map((p) => p.name)).toEqual([]);
      const backlog = await waitUntilDrained(jsm, env.prefix, 120_000);
      expect(backlog.map((b) => b.consumer).sort()).toEqual(orderConsumers());

      // ---- invariants, from history: once each, nothing lost, no duplicate effect ----
      const store = createMongoStore(mongo, { dbName: env.dbName, collectionPrefix: env.prefix });
      const { problems, ignored, firedTimers, chargeIds, expectedEffects } = await checkOrderRuns(store, runs, plans);
      expect(problems.slice(0, 20)).toEqual([]);
      expect(firedTimers).toBe(plans.filter((p) => !p.approve).length);
      // One charge per order, under one id: a re-executed charge carried the same idempotency key.
      expect(chargeIds.size).toBe(RUNS);

      // Every effect the histories record was executed; executions beyond one are reruns.
      const executions = countExecutions(services);
      expect([...expectedEffects].filter((k) => !executions.has(k)).slice(0, 10)).toEqual([]);
      expect([...executions.keys()].filter((k) => !expectedEffects.has(k)).slice(0, 10)).toEqual([]);

      const deadReasons = await deadLetterReasons(nc, env.prefix);
      // Only a late duplicate approval of a finished run may be parked.
      expect(Object.keys(deadReasons).filter((r) => r !== 'closed-run')).toEqual([]);

      const summary = {
        clusterChaos: {
          runs: RUNS,
          windowSeconds: SECONDS,
          completedAfterSeconds: Math.round(completedAfter),
          nodeKills,
          nodeDownMs: DOWN_MS,
          startsResent: counts.startsResent,
          signalsSent: counts.signalsSent,
          timersFired: firedTimers,
          effects: expectedEffects.size,
          activityReruns: reruns(executions),
          ignoredEventsInHistory: ignored,
          deadLetters: deadReasons,
        },
      };
      process.stderr.write(`${JSON.stringify(summary)}\n`);
    },
    (SECONDS + 600) * 1000,
  );
});
