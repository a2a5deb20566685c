/**
 * What the server at hand answers cheaply. FerretDB 1.x (SQLite) only pushes a filter that is
 * exactly `{ _id: <value> }` down to its storage; any other filter, including `_id` plus one more
 * condition, decodes every document of the collection. There a conditional write costs a full
 * scan, while a read by `_id` then a write by `_id` costs two cheap ones; neither is atomic on that
 * server. MongoDB keeps its atomic conditional writes, which use the `_id` index anyway.
 */
import type { Db } from 'mongodb';

/** How store operations phrase their filters for one server. */
export interface ServerProfile {
  /**
   * True when only `{ _id }` filters avoid a collection scan and conditional single-document
   * updates are not atomic anyway (FerretDB 1.x): conditional writes become a read by `_id`
   * followed by a write by `_id`. False on MongoDB.
   */
  idFiltersOnly: boolean;
  /**
   * Most update statements one command may carry. FerretDB 1.x keeps every statement's query
   * open (one SQL connection each) until the whole command ends, while each statement's write
   * takes one more connection from a pool of 100: a bulk of ~50 statements, or a few concurrent
   * bulks, exhaust the pool and wait on each other forever. There, each statement is sent alone.
   */
  maxUpdatesPerCommand: number;
}

/** Asks the server what it is (`buildInfo.ferretdbVersion` names FerretDB). */
export async function detectServerProfile(db: Db): Promise<ServerProfile> {
  const info = (await db.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: unknown; version?: unknown };
  const ferret = typeof info.ferretdbVersion === 'string' ? info.ferretdbVersion : undefined;
  const ferret1 = ferret !== undefined && /^v?1\./.test(ferret);
  return { idFiltersOnly: ferret1, maxUpdatesPerCommand: ferret1 ? 1 : Number.POSITIVE_INFINITY };
}

/** Detects the profile once; a failed detection (server away) is tried again on the next call. */
export function memoizedProfile(db: Db): () => Promise<ServerProfile> {
  let pending: Promise<ServerProfile> | undefined;
  return () => {
    if (!pending) {
      pending = detectServerProfile(db).catch((err: unknown) => {
        pending = undefined;
        throw err;
      });
    }
    return pending;
  };
}

/** Update commands in flight at once per store when statements go one per command. */
export const SINGLE_UPDATE_CONCURRENCY = 4;
