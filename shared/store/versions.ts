/**
 * The workflow versions in use, without reading every open run (issue #22: a router's start costs
 * what its own definitions cost, not what the store holds).
 *
 * Each router registers the (workflowType, version) pairs it holds before it takes up any input,
 * and again at every refresh (VERSION_REFRESH_MS): a run can only start on a version some router
 * registered. The check a router makes at start then reads this small collection and, for each
 * version the router lacks, asks the summaries whether an open run uses it: one equality lookup on
 * (status, workflowType, version), which FerretDB pushes down to PostgreSQL and its GIN twins
 * serve (services/dev/ferret-pushdown.ts). A version no router has refreshed for VERSION_STALE_MS
 * and no open run uses is removed, so the check does not pay for it again.
 *
 * Stores made before this registry hold open runs that no router registered: the first check
 * reads the open summaries once (the old scan), registers what it finds as stale, and leaves the
 * marker document SCANNED_ID so no check scans again.
 */
import type { AnyBulkWriteOperation, Collection } from 'mongodb';
import type { RunDoc, VersionDoc } from './documents.js';
import { isDuplicateKeyError } from './errors.js';
import type { OpenRunVersion, WorkflowVersionKey } from './types.js';

/** A version no router has registered for this long, and no open run uses, leaves the registry. */
export const VERSION_STALE_MS = 24 * 60 * 60 * 1000;
/** How often a running router registers its versions again (keeps them from going stale). */
export const VERSION_REFRESH_MS = 60 * 60 * 1000;
/** Tries of a registration that keeps losing insert races to other routers. */
const REGISTER_ATTEMPTS = 5;
/** The marker left once the open runs of a store older than the registry have been read. */
const SCANNED_ID = '~scanned';

/** `<workflowType>:<version>`: unambiguous, as the version (after the last colon) is an integer. */
export function versionId(k: WorkflowVersionKey): string {
  return `${k.workflowType}:${k.version}`;
}

/** The version registry of one store. */
export class VersionStore {
  constructor(
    private readonly versions: Collection<VersionDoc>,
    private readonly runs: Collection<RunDoc>,
    private readonly now: () => number,
  ) {}

  /** Marks `keys` as held by a live router now (one bulk upsert). */
  async register(keys: readonly WorkflowVersionKey[], seenAt = this.now()): Promise<void> {
    if (keys.length === 0) return;
    const ops: AnyBulkWriteOperation<VersionDoc>[] = keys.map((k) => ({
      updateOne: {
        filter: { _id: versionId(k) },
        update: { $set: { workflowType: k.workflowType, version: k.version }, $max: { seenAt } },
        upsert: true,
      },
    }));
    // Routers starting together race to insert the same version: an upsert that loses the race
    // fails on the unique `_id` and, tried again, updates what the winner inserted.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.versions.bulkWrite(ops, { ordered: false });
        return;
      } catch (err) {
        if (attempt >= REGISTER_ATTEMPTS || !isDuplicateKeyError(err)) throw err;
      }
    }
  }

  /**
   * The versions outside `except` that open runs use, with how many open runs each; prunes the
   * registry of stale versions no open run uses.
   */
  async openOutside(except: readonly WorkflowVersionKey[]): Promise<OpenRunVersion[]> {
    await this.registerLegacyOpenRuns();
    const held = new Set(except.map(versionId));
    const out: OpenRunVersion[] = [];
    const docs = await this.versions.find({ _id: { $ne: SCANNED_ID } }).toArray();
    for (const d of docs) {
      if (held.has(d._id)) continue;
      const filter = { status: 'running' as const, workflowType: d.workflowType, version: d.version };
      if ((await this.runs.findOne(filter, { projection: { _id: 1 } })) === null) {
        if (this.now() - d.seenAt > VERSION_STALE_MS) await this.versions.deleteOne({ _id: d._id, seenAt: d.seenAt });
        continue;
      }
      out.push({ workflowType: d.workflowType, version: d.version, runs: await this.runs.countDocuments(filter) });
    }
    return out.sort((a, b) =>
      a.workflowType === b.workflowType ? a.version - b.version : a.workflowType < b.workflowType ? -1 : 1,
    );
  }

  /** Once per store: the versions of open runs stored before the registry, registered as stale. */
  private async registerLegacyOpenRuns(): Promise<void> {
    if ((await this.versions.findOne({ _id: SCANNED_ID }, { projection: { _id: 1 } })) !== null) return;
    const found = new Map<string, WorkflowVersionKey>();
    const open = this.runs.find({ status: 'running' }, { projection: { workflowType: 1, version: 1 } });
    for await (const d of open) found.set(versionId(d), { workflowType: d.workflowType, version: d.version });
    await this.register([...found.values()], 0);
    try {
      await this.versions.insertOne({ _id: SCANNED_ID, workflowType: '', version: 0, seenAt: this.now() });
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
  }
}
