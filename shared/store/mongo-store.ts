/**
 * The MongoDB Store: history commits, run summaries, workflowId claims and
 * timers, each in its own collection. Every operation is one atomic single-document write or a
 * batch of independent ones (no transactions, no change streams), and every driver error is
 * converted at this boundary (see errors.ts): a server that is away surfaces as a retryable
 * UnavailableError.
 */
import type { MongoClient } from 'mongodb';
import { retryWithBackoff } from '../bus/backoff.js';
import type { RunState } from '../engine/types.js';
import { collectionNames } from '../names.js';
import { CommitStore } from './commits.js';
import type {
  CommitDoc,
  OutboxDoc,
  RunDoc,
  TimerDoc,
  TimerLeaseDoc,
  TimerWalkerDoc,
  VersionDoc,
  WorkflowIdDoc,
} from './documents.js';
import { toTombstone } from './documents.js';
import { guardDriverWrites } from './driver-guard.js';
import { isRetryableStoreError, toStoreError } from './errors.js';
import { createMongoEventWaitStore } from './events.js';
import { ensureIndexes } from './indexes.js';
import { type BlobChunkDoc, mongoRunBlobs, StoredPayloads } from './payloads.js';
import { RetentionSweeper, type SweepCursorDoc } from './retention-sweeper.js';
import { RunStore } from './runs.js';
import { createMongoScheduleStore } from './schedules.js';
import { memoizedProfile } from './server-profile.js';
import { TimerStore } from './timers.js';
import { defaultStoreOptions, type Store, type StoredCommit, type StoreOptions } from './types.js';
import { VersionStore } from './versions.js';

/** Rounds of repairRun against writers racing it. */
const REPAIR_ROUNDS = 5;

/**
 * Creates a Store over a MongoClient (the caller owns, connects and closes the client). Guards
 * the driver's writes against a socket that closed under them first (see driver-guard.ts).
 */
export function createMongoStore(client: MongoClient, opts: Partial<StoreOptions> = {}): Store {
  guardDriverWrites();
  const o: StoreOptions = { ...defaultStoreOptions(), ...opts };
  const db = client.db(o.dbName);
  const names = collectionNames(o.collectionPrefix);
  const profile = memoizedProfile(db);
  const payloads = new StoredPayloads(mongoRunBlobs(db.collection<BlobChunkDoc>(names.blobs)), {
    offloadBytes: o.offloadPayloadBytes,
    maxBytes: o.maxPayloadBytes,
  });
  const commits = new CommitStore(
    db.collection<CommitDoc>(names.commits),
    db.collection<OutboxDoc>(names.outbox),
    payloads,
  );
  const runs = new RunStore(
    db.collection<RunDoc>(names.runs),
    db.collection<WorkflowIdDoc>(names.workflowIds),
    db.collection<CommitDoc>(names.commits),
    payloads,
    o.now,
    profile,
    o.retentionMs,
  );
  const sweeper = new RetentionSweeper(
    db.collection<RunDoc>(names.runs),
    db.collection<CommitDoc>(names.commits),
    payloads,
    db.collection<SweepCursorDoc>(names.sweeps),
    o.now,
    (run) => toTombstone(run, o.now()),
  );
  const versions = new VersionStore(
    db.collection<VersionDoc>(names.versions),
    db.collection<RunDoc>(names.runs),
    o.now,
  );
  const timers = new TimerStore(db.collection<TimerDoc | TimerLeaseDoc | TimerWalkerDoc>(names.timers), profile, o.now);

  const guard = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw toStoreError(err, op);
    }
  };

  async function* loadHistory(runId: string, fromSeq?: number): AsyncGenerator<StoredCommit> {
    try {
      yield* commits.load(runId, fromSeq);
    } catch (err) {
      throw toStoreError(err, 'loadHistory');
    }
  }

  const store: Store = {
    // FerretDB drops connections when several services create the same indexes at once; init is
    // idempotent, so a retryable failure is simply tried again.
    init: () =>
      retryWithBackoff(
        () =>
          guard('init', async () => {
            await ensureIndexes(db, names);
            await profile();
            await sweeper.init();
          }),
        {
          deadlineMs: 30_000,
          isRetryable: isRetryableStoreError,
        },
      ),
    close: async () => {},
    mongo: client,
    schedules: createMongoScheduleStore(db, names),
    eventWaits: createMongoEventWaitStore(db, names),

    appendCommit: (c) => guard('appendCommit', () => commits.append(c)),
    appendCommits: (cs) => guard('appendCommits', () => commits.appendMany(cs)),
    appendChain: (cs) => guard('appendChain', () => commits.appendChain(cs)),
    loadHistory,
    lastSeq: (runId) => guard('lastSeq', () => commits.lastSeq(runId)),
    commitsSince: (runId, since, lastSeq) => guard('commitsSince', () => commits.since(runId, since, lastSeq)),
    drainLegacyOutbox: (republish) => guard('drainLegacyOutbox', () => commits.drainLegacyOutbox(republish)),

    claimWorkflowId: (workflowId, runId, policy, startMsgId) =>
      guard('claimWorkflowId', () => runs.claim(workflowId, runId, policy, startMsgId)),
    claimWorkflowIds: (claims) => guard('claimWorkflowIds', () => runs.claimMany(claims)),
    workflowIdHolder: (workflowId, known) => guard('workflowIdHolder', () => runs.holder(workflowId, known)),
    discardRefusedStart: (workflowId, runId) =>
      guard('discardRefusedStart', async () => ((await runs.heldBy(workflowId, runId)) ? 0 : commits.deleteRun(runId))),

    saveRun: (state, extra) => guard('saveRun', () => runs.save(state, extra)),
    saveRuns: (states, closeTokens) => guard('saveRuns', () => runs.saveMany(states, closeTokens)),
    getRun: (runId) => guard('getRun', () => runs.get(runId)),
    getRunByWorkflowId: (workflowId) => guard('getRunByWorkflowId', () => runs.getByWorkflowId(workflowId)),
    listRuns: (filter, page) => guard('listRuns', () => runs.list(filter, page)),
    registerVersions: (keys) => guard('registerVersions', () => versions.register(keys)),
    openRunVersions: (except = []) => guard('openRunVersions', () => versions.openOutside(except)),
    sweepExpiredRuns: () => guard('sweepExpiredRuns', () => sweeper.sweep()),
    repairRun: (runId, rebuild) =>
      guard('repairRun', async () => {
        let from = (await runs.get(runId))?.state;
        let state: RunState | undefined;
        // A concurrent writer may put an older state back (see SummaryWrite): repair until none did.
        for (let round = 0; round < REPAIR_ROUNDS; round++) {
          const tail: StoredCommit[] = [];
          for await (const c of commits.load(runId, from?.lastSeq ?? 0)) tail.push(c);
          if (tail.length === 0) break;
          state = rebuild(from, tail);
          if (!(await runs.save(state)).maybeBehind.includes(runId)) break;
          from = state;
        }
        return state ?? from;
      }),

    scheduleTimer: (t) => guard('scheduleTimer', () => timers.schedule(t)),
    scheduleTimers: (ts) => guard('scheduleTimers', () => timers.scheduleMany(ts)),
    cancelTimer: (runId, timerSeq) => guard('cancelTimer', () => timers.cancel(runId, timerSeq)),
    claimDueTimers: (now, owner, leaseMs, limit, skip) =>
      guard('claimDueTimers', () => timers.claimDue(now, owner, leaseMs, limit, skip)),
    markTimerFired: (runId, timerSeq, owner, leaseEpoch) =>
      guard('markTimerFired', () => timers.markFired(runId, timerSeq, owner, leaseEpoch)),
    markTimersFired: (ts, owner, now) => guard('markTimersFired', () => timers.markFiredMany(ts, owner, now)),
    nextTimerDue: async () => timers.nextDue(),
    getTimer: (runId, timerSeq) => guard('getTimer', () => timers.get(runId, timerSeq)),
  };
  return store;
}
