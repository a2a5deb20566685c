/**
 * The store's side of large payloads and codecs: documents are built by documents.ts (sealed by
 * the payload codecs), then each Binary over the offload threshold is written to the blobs
 * collection and replaced by a reference; reading a document loads only the references it holds.
 * Retried appends compare content, not bytes: sealing and offloading make the same commit's bytes
 * differ on every write.
 *
 * Every chunk is owned by the run whose document referenced it when it was written (`runId` on the
 * chunk, indexed): blob ids are random per write, never content-addressed, and a document of
 * another run that holds the same payload (a branch's copied commits, a child's result) wrote
 * chunks of its own, so no chunk is shared between runs. The retention sweeper removes a run's
 * chunks by that index with the rest of its history; chunks a run left unreferenced (the state of
 * an earlier summary, a retried append's first write) go with it then.
 */
import { Binary, type Collection } from 'mongodb';
import type { RunState } from '../engine/types.js';
import { PayloadCodecError } from '../errors.js';
import { encodeEvents, encodePayload } from '../history/codec.js';
import { type BlobBackend, isBlobRef, loadLarge, offloadLarge, type PayloadLimits } from '../payload/blobs.js';
import { openPayload } from '../payload/codec.js';
import {
  type CommitDoc,
  fromCommitDoc,
  fromRunDoc,
  type RunDoc,
  toCommitDoc,
  toRunFields,
  withStateOfFields,
} from './documents.js';
import { isDuplicateKeyError } from './errors.js';
import type { RunRecord, StoredCommit } from './types.js';

/**
 * A chunk of an out-of-band payload: `_id: <blobId>:<n>`, owned by run `runId` (absent on chunks
 * written before chunks had owners; those are never removed).
 */
export interface BlobChunkDoc {
  _id: string;
  runId?: string;
  data: Binary;
}

/** A store's chunks, each owned by one run. */
export interface RunBlobs {
  /** The backend that writes chunks owned by `runId`; it reads any chunk. */
  of(runId: string): BlobBackend;
  /** Removes every chunk `runId` owns; resolves with how many went. Idempotent. */
  deleteRun(runId: string): Promise<number>;
}

/**
 * The MongoDB chunks: one document per chunk, read by `_id` and removed by `runId` (both equality
 * lookups an index serves, on FerretDB too: never a scan of the collection).
 */
export function mongoRunBlobs(chunks: Collection<BlobChunkDoc>): RunBlobs {
  return {
    of: (runId) => ({
      async put(id, n, bytes) {
        try {
          await chunks.insertOne({ _id: `${id}:${n}`, runId, data: new Binary(bytes) });
        } catch (err) {
          if (!isDuplicateKeyError(err)) throw err;
        }
      },
      async get(id, n) {
        return (await chunks.findOne({ _id: `${id}:${n}` }))?.data.value();
      },
    }),
    deleteRun: async (runId) => (await chunks.deleteMany({ runId })).deletedCount,
  };
}

/** Chunks in memory, for the memory store: `chunks` by `<blobId>:<n>`, with their owner. */
export function memoryRunBlobs(): RunBlobs & { readonly chunks: Map<string, { runId: string; data: Uint8Array }> } {
  const chunks = new Map<string, { runId: string; data: Uint8Array }>();
  return {
    chunks,
    of: (runId) => ({
      put: async (id, n, bytes) => {
        if (!chunks.has(`${id}:${n}`)) chunks.set(`${id}:${n}`, { runId, data: Uint8Array.from(bytes) });
      },
      get: async (id, n) => chunks.get(`${id}:${n}`)?.data,
    }),
    deleteRun: async (runId) => {
      let deleted = 0;
      for (const [key, chunk] of chunks) {
        if (chunk.runId !== runId) continue;
        chunks.delete(key);
        deleted++;
      }
      return deleted;
    },
  };
}

/** Commit and run documents with their large payloads out of band. */
export class StoredPayloads {
  constructor(
    private readonly blobs: RunBlobs | undefined,
    private readonly limits: PayloadLimits,
  ) {}

  /** The document of a commit, its events and commands offloaded when large. */
  async commitDoc(c: StoredCommit): Promise<CommitDoc> {
    const d = toCommitDoc(c, this.limits.maxBytes);
    const what = `commit seq ${c.seq} of run ${c.runId}`;
    d.events = await this.offload(c.runId, d.events, `events of ${what}`);
    d.commands = await this.offload(c.runId, d.commands, `commands of ${what}`);
    return d;
  }

  /** Decodes a stored commit, loading what it holds out of band. */
  async commit(d: CommitDoc): Promise<StoredCommit> {
    if (!isBlobRef(d.events.value()) && !isBlobRef(d.commands.value())) return fromCommitDoc(d);
    return fromCommitDoc({
      ...d,
      events: await this.load(d.runId, d.events),
      commands: await this.load(d.runId, d.commands),
    });
  }

  /** Is `stored` the same commit as `c` (an earlier write of it), whatever its bytes? */
  async sameCommit(stored: CommitDoc, c: StoredCommit): Promise<boolean> {
    if (stored.workflowId !== c.workflowId) return false;
    const events = openPayload((await this.load(c.runId, stored.events)).value());
    const commands = openPayload((await this.load(c.runId, stored.commands)).value());
    return (
      Buffer.from(events).equals(encodeEvents(c.events)) && Buffer.from(commands).equals(encodePayload(c.commands))
    );
  }

  /** The fields a saveRun writes, the run state offloaded when large; `retentionMs`: see toRunFields. */
  async runFields(state: RunState, retentionMs: number): Promise<ReturnType<typeof toRunFields>> {
    const fields = toRunFields(state, this.limits.maxBytes, retentionMs);
    fields.state = await this.offload(state.runId, fields.state, `the state of run ${state.runId}`);
    return fields;
  }

  /** Decodes a run summary, loading its state when it is out of band. */
  async run(d: RunDoc): Promise<RunRecord> {
    return fromRunDoc(isBlobRef(d.state.value()) ? { ...d, state: await this.load(d._id, d.state) } : d);
  }

  /**
   * `d` with its state as plain encoded bytes: loaded when out of band, opened when sealed (what
   * toTombstone reads). PayloadCodecError when its chunks are gone.
   */
  async withPlainState(d: RunDoc): Promise<RunDoc> {
    return { ...d, state: new Binary(openPayload((await this.load(d._id, d.state)).value())) };
  }

  /**
   * `d` with its state plain for its tombstone; from its plain fields when the state cannot be
   * read (its chunks gone, its key no longer installed), or the sweep would stop at that run on
   * every pass.
   */
  async stateToSweep(d: RunDoc): Promise<RunDoc> {
    try {
      return await this.withPlainState(d);
    } catch (err) {
      if (!(err instanceof PayloadCodecError)) throw err;
      return withStateOfFields(d);
    }
  }

  /** Removes the chunks `runId` owns (its history and summary no longer reference them). */
  async deleteRun(runId: string): Promise<number> {
    return this.blobs ? this.blobs.deleteRun(runId) : 0;
  }

  private async offload(runId: string, b: Binary, what: string): Promise<Binary> {
    const bytes = b.value();
    const out = await offloadLarge(bytes, this.blobs?.of(runId), this.limits, what);
    return out === bytes ? b : new Binary(out);
  }

  private async load(runId: string, b: Binary): Promise<Binary> {
    const bytes = b.value();
    return isBlobRef(bytes) ? new Binary(await loadLarge(bytes, this.blobs?.of(runId))) : b;
  }
}
