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
}

/** Asks the server what it is (`buildInfo.ferretdbVersion` names FerretDB). */
export async function detectServerProfile(db: Db): Promise<ServerProfile> {
  const info = (await db.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: unknown; version?: unknown };
  const ferret = typeof info.ferretdbVersion === 'string' ? info.ferretdbVersion : undefined;
  return { idFiltersOnly: ferret !== undefined && /^v?1\./.test(ferret) };
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
