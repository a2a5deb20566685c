/**
 * Chaos: order runs (charge, an approval signal or a timeout, then ship and email) across 2
 * routers, 3 executors and 2 timer services, all separate processes, while a driver SIGKILLs and
 * restarts a random service every few hundred ms, and once each restarts nats-server (same store
 * dir) and the MongoDB-protocol server. Afterwards, from MongoDB and JetStream: every run completed
 * once with the right output, every history is gapless with each activity completion and timer
 * firing recorded once, and no consumer holds an unacked or undelivered message.
 *
 * Short by default (CI); `SQUALL_CHAOS_RUNS=2000 SQUALL_CHAOS_SECONDS=600 npx vitest run tests/chaos`
 * is the long form. Prints one JSON summary line on stderr.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { collectionNames, eventPartition, subjects as subjectsOf } from '../../shared/names.js';
import { createMongoStore } from '../../shared/store/index.js';
import { SAMPLE, type ServiceEnv, type ServiceProcess, spawnSquall } from '../e2e/processes.js';
import { connectNats, freshDbName, freshPrefix, type LocalServers, privateServers, waitFor } from '../harness/index.js';
import { consumerBacklogs, loadCommits } from './invariants.js';
import {
  checkOrderRuns,
  countExecutions,
  deadLetterReasons,
  orderConsumers,
  reruns,
  waitUntilDrained,
} from './order-checks.js';
import { isRunning, isStarted, type OrderPlan, orderDriver, waitUntilStarted } from './order-driver.js';

const RUNS = Number(process.env.SQUALL_CHAOS_RUNS ?? 200);
const SECONDS = Number(process.env.SQUALL_CHAOS_SECONDS ?? 60);

interface Slot {
  name: string;
  args: string[];
  proc: ServiceProcess;
  generation: number;
}

let servers: LocalServers;
let env: ServiceEnv;
let nc: NatsConnection;
let client: SquallClient;
const slots: Slot[] = [];
const retired: ServiceProcess[] = [];

/** The services not started or not running, each with its last words. */
function servicesDown(): string[] {
  return slots
    .filter((x) => !(isStarted(x.proc) && isRunning(x.proc)))
    .map(
      (x) =>
        `${x.proc.name} (${isRunning(x.proc) ? 'starting' : 'exited'}): ${JSON.stringify(x.proc.logs.slice(-5))} ${x.proc.noise.slice(-5).join(' | ')}`,
    );
}

function spawnSlot(slot: Omit<Slot, 'proc' | 'generation'>, generation: number): Slot {
  return { ...slot, generation, proc: spawnSquall(`${slot.name}#${generation}`, slot.args, env) };
}

beforeAll(async () => {
  servers = await privateServers();
  env = { natsUrl: servers.nats.url, mongoUrl: servers.mongo.url, prefix: freshPrefix(), dbName: freshDbName() };
  const specs = [
    { name: 'router-1', args: ['router', '--workflows', SAMPLE.workflows] },
    { name: 'router-2', args: ['router', '--workflows', SAMPLE.workflows] },
    ...[1, 2, 3].map((i) => ({ name: `executor-${i}`, args: ['executor', '--activities', SAMPLE.activities] })),
    { name: 'timer-1', args: ['timer'] },
    { name: 'timer-2', args: ['timer'] },
  ];
  // The first creates streams and indexes; the rest start together.
  const first = specs[0] as Omit<Slot, 'proc' | 'generation'>;
  slots.push(spawnSlot(first, 0));
  await waitFor('router-1 to start', () => isStarted((slots[0] as Slot).proc), { timeoutMs: 60_000 });
  for (const spec of specs.slice(1)) slots.push(spawnSlot(spec, 0));
  await waitUntilStarted(
    slots.map((s) => s.proc),
    150_000,
  );
  nc = await connectNats(env.natsUrl, { maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  client = await connect({ nc, prefix: env.prefix, requestTimeoutMs: 5_000, attempts: 2 });
}, 240_000);

afterAll(async () => {
  await client?.close();
});

describe('chaos', () => {
  it(
    `${RUNS} order runs survive ${SECONDS} s of SIGKILLs and server restarts, each completed exactly once`,
    async () => {
      const s = subjectsOf(env.prefix);
      const began = Date.now();
      const chaosEnd = began + SECONDS * 1000;
      const driver = await orderDriver(nc, env, RUNS, 'chaos');
      const { plans, completed, mongo, runs, sendStart, sendApprove } = driver;
      const counts = { kills: 0, restarts: 0, natsRestarts: 0, mongoRestarts: 0 };

      // ---- the chaos driver: SIGKILL a started service and start its replacement ----
      let chaosOn = true;
      const chaos = (async () => {
        let natsDone = false;
        let mongoDone = false;
        while (chaosOn && Date.now() < chaosEnd) {
          await new Promise((r) => setTimeout(r, 200 + Math.random() * 600));
          const elapsed = (Date.now() - began) / (chaosEnd - began);
          if (!natsDone && elapsed > 0.3) {
            natsDone = true;
            servers.nats.kill('SIGKILL');
            await servers.nats.restart();
            counts.natsRestarts++;
            continue;
          }
          if (!mongoDone && elapsed > 0.6) {
            mongoDone = true;
            servers.mongo.kill('SIGKILL');
            await servers.mongo.restart();
            counts.mongoRestarts++;
            continue;
          }
          const victims = slots.filter((x) => isStarted(x.proc) && isRunning(x.proc));
          const victim = victims[Math.floor(Math.random() * victims.length)];
          if (!victim) continue;
          victim.proc.kill('SIGKILL');
          counts.kills++;
          await victim.proc.exited;
          retired.push(victim.proc);
          const next = spawnSlot(victim, victim.generation + 1);
          slots[slots.indexOf(victim)] = next;
          counts.restarts++;
        }
      })();

      // ---- the workload: starts paced over the first 60% of the window, approvals when due ----
      const starter = driver.paceStarts(SECONDS * 1000);

      /** One look at every run: resend what seems lost, approve what waits for approval. */
      let looks = 0;
      let lastLookAt = began;
      const queries = { sent: 0, failed: 0 };
      const reconcile = async (): Promise<void> => {
        // Every fourth look reads every run; the others only open ones (a cheaper query on FerretDB,
        // which the chaos shares the machine with): closed and missing runs are told apart then.
        const { now, missing, open } = await driver.look({ openOnly: looks++ % 4 !== 0 });
        const toQuery: OrderPlan[] = [];
        for (const p of missing) {
          if (now - (p.startSentAt ?? now) <= 20_000) continue;
          sendStart(p); // same msg id: a duplicate is dropped
          // A run's first summary is written behind: one whose router died first is not in
          // list until its next decision, but a query finds it (by its workflowId's claim).
          if (p.approve && (p.signalSentAt === undefined || now - p.signalSentAt > 20_000)) toQuery.push(p);
        }
        for (const { plan: p, doc: d } of open) {
          if (!p.approve) continue;
          const waiting = d.stateValue === 'awaitingApproval';
          if (waiting && p.signalSentAt === undefined) sendApprove(p);
          // A summary can lag its history; past a while, ask a router for the fresh state.
          else if (now - p.lastChangeAt > 10_000 && (p.signalSentAt === undefined || now - p.signalSentAt > 20_000))
            toQuery.push(p);
        }
        // Side by side: one at a time, 20 unanswered queries (5 s, two attempts each) would hold
        // the next look back for minutes.
        await Promise.all(
          toQuery.slice(0, 20).map(async (p) => {
            queries.sent++;
            const q = await client.query(p.id).catch(() => {
              queries.failed++;
              return undefined;
            });
            if (q?.accepts.includes('approve')) sendApprove(p);
          }),
        );
        lastLookAt = Date.now();
      };

      /**
       * What history, summary, timers and consumers say about runs that never finished: written to
       * stderr, and returned in short for the error (a CI log may keep only the report's tail).
       */
      const dumpStragglers = async (ids: string[]): Promise<string[]> => {
        const brief: string[] = [];
        const store = createMongoStore(mongo, { dbName: env.dbName, collectionPrefix: env.prefix });
        const timers = mongo.db(env.dbName).collection(collectionNames(env.prefix).timers);
        for (const id of ids) {
          const run = await store.getRunByWorkflowId(id);
          const holder = await store.workflowIdHolder(id); // a run without a summary yet has history too
          const commits = holder ? await loadCommits(store, holder.runId) : [];
          const history = commits.map((c) => ({
            seq: c.seq,
            at: c.at,
            events: c.events.map((e) => `${e.type}${(e as { ignored?: string }).ignored ? '(ignored)' : ''}`),
          }));
          const timerDocs = run
            ? await timers.find({ $or: [{ runId: run.runId }, { timer: { $regex: `^${run.runId}` } }] }).toArray()
            : [];
          process.stderr.write(
            `${JSON.stringify({ straggler: id, summary: run && { runId: run.runId, status: run.status, lastSeq: (run as { lastSeq?: number }).lastSeq, stateValue: run.stateValue }, history, timerDocs })}\n`,
          );
          const last = history[history.length - 1];
          brief.push(
            `${id}: run ${run?.runId ?? 'none'}, ${history.length} commits, last ${last ? `#${last.seq} at ${new Date(last.at).toISOString()} [${last.events.join(' ')}]` : 'none'}, partition ${run ? eventPartition(run.runId) : '-'}`,
          );
        }
        const jsm = await jetstreamManager(nc);
        const backlogs = await consumerBacklogs(jsm, env.prefix);
        process.stderr.write(`${JSON.stringify({ backlogs })}\n`);
        const behind = backlogs.filter((b) => b.pending > 0 || b.ackPending > 0);
        brief.push(`consumers behind: ${JSON.stringify(behind)}`, ...servicesDown());
        // Which router holds (and pulls) which events partitions right now.
        // No router answering is itself the finding: it must not hide the rest of the dump.
        try {
          const replies = await nc.requestMany(s.health('router'), undefined, { maxWait: 1_000 });
          for await (const r of replies) {
            const h = decodeBody(r.data, r.headers, r.subject) as { id?: string; details?: Record<string, unknown> };
            const d = h.details ?? {};
            brief.push(
              `${String(h.id)}: held ${JSON.stringify(d.held)} idle ${JSON.stringify(d.idle)} inFlight ${String(d.inFlight)}`,
            );
          }
        } catch (err) {
          brief.push(`no router answered health: ${String(err)}`);
        }
        // What the services complained about, by message, with the latest example of each.
        const complaints = new Map<string, { count: number; last: unknown }>();
        for (const p of [...retired, ...slots.map((x) => x.proc)]) {
          for (const l of p.logs) {
            if (l.level !== 'warn' && l.level !== 'error') continue;
            const key = `${String(l.service)}: ${String(l.msg)}`;
            const c = complaints.get(key) ?? { count: 0, last: undefined };
            c.count++;
            c.last = l;
            complaints.set(key, c);
          }
        }
        for (const [key, c] of complaints) {
          process.stderr.write(`${JSON.stringify({ complaint: key, count: c.count, last: c.last }).slice(0, 2000)}\n`);
          brief.push(`${key} x${c.count}`);
        }
        return brief;
      };

      // After the kills stop, the runs they held back drain: about 400 a minute on a 2-core machine
      // that also runs every service, both servers and this test.
      const settleMs = Math.max(240_000, RUNS * 300);
      try {
        await waitFor(
          `${RUNS} runs to complete`,
          async () => {
            await reconcile();
            return completed.size === RUNS;
          },
          { timeoutMs: SECONDS * 1000 + settleMs, intervalMs: RUNS > 500 ? 3_000 : 1_000 },
        );
      } catch (err) {
        // Say how far it got and where the stragglers stand, so a timeout can be told from a stall.
        const open = plans.filter((p) => !completed.has(p.id));
        const where = open.slice(0, 10).map((p) => ({
          id: p.id,
          started: p.startSentAt !== undefined,
          state: p.lastStateValue,
          idleMs: Date.now() - p.lastChangeAt,
          signals: p.signals,
        }));
        const brief = await dumpStragglers(open.slice(0, 5).map((p) => p.id)).catch((e: unknown) => [
          `straggler dump failed: ${String(e)}`,
        ]);
        throw new Error(
          `${completed.size} of ${RUNS} runs completed; ${open.length} open, e.g. ${JSON.stringify(where)}\n` +
            `${looks} looks, the last finished ${Date.now() - lastLookAt} ms ago; queries ${JSON.stringify(queries)}\n${brief.join('\n')}`,
          {
            cause: err,
          },
        );
      }
      chaosOn = false;
      await chaos;
      await starter;
      const completedAfter = (Date.now() - began) / 1000;

      // Every service up again, then nothing left pending or unacked anywhere.
      await waitFor('every service to run', () => slots.every((x) => isStarted(x.proc) && isRunning(x.proc)), {
        timeoutMs: 120_000,
      }).catch((err: unknown) => {
        throw new Error(`not every service runs again:\n${servicesDown().join('\n')}`, { cause: err });
      });
      const jsm = await jetstreamManager(nc);
      const backlog = await waitUntilDrained(jsm, env.prefix, 180_000);
      expect(backlog.map((b) => b.consumer).sort()).toEqual(orderConsumers());

      // ---- invariants, from history ----
      const store = createMongoStore(mongo, { dbName: env.dbName, collectionPrefix: env.prefix });
      const { problems, ignored, firedTimers } = await checkOrderRuns(store, runs, plans);
      expect(problems.slice(0, 20)).toEqual([]);
      expect(firedTimers).toBe(plans.filter((p) => !p.approve).length);

      const deadReasons = await deadLetterReasons(nc, env.prefix);
      // Only a late duplicate approval of a finished run may be parked.
      expect(Object.keys(deadReasons).filter((r) => r !== 'closed-run')).toEqual([]);

      const all = [...retired, ...slots.map((x) => x.proc)];
      const logCount = (msg: string): number => all.reduce((n, p) => n + p.logs.filter((l) => l.msg === msg).length, 0);
      const executions = countExecutions(all);
      const summary = {
        chaos: {
          runs: RUNS,
          chaosSeconds: SECONDS,
          completedAfterSeconds: Math.round(completedAfter),
          durationSeconds: Math.round((Date.now() - began) / 1000),
          kills: counts.kills,
          restarts: counts.restarts,
          natsRestarts: counts.natsRestarts,
          mongoRestarts: counts.mongoRestarts,
          startsSent: driver.counts.startsSent,
          signalsSent: driver.counts.signalsSent,
          redeliveries: {
            ignoredEventsInHistory: ignored,
            routerNaks: logCount('decision failed for a passing reason; redelivering'),
            republishedByRedelivery: logCount('republished the commits of a redelivered input'),
            appendRaces: logCount('lost an append race; reloading'),
            activityReruns: reruns(executions),
          },
          deadLetters: deadReasons,
          timersFired: firedTimers,
        },
      };
      process.stderr.write(`${JSON.stringify(summary)}\n`);
    },
    (SECONDS + 900) * 1000,
  );
});
