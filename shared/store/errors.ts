/**
 * MongoDB error codes and the predicates that read them. Every store operation converts what the
 * driver throws into a SquallError here, at the boundary: a server that is down or stepping down
 * becomes a retryable UnavailableError; a duplicate key is recognised so callers can map it.
 */
import {
  type Collection,
  type Document,
  MongoBulkWriteError,
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
  type OptionalUnlessRequiredId,
} from 'mongodb';
import { SquallError, UnavailableError } from '../errors.js';

/** Duplicate key on a unique index. */
export const DUPLICATE_KEY = 11000;

/**
 * Server codes after which the same operation may succeed later (the driver's own
 * `isRetryableWriteError`/`isRetryableReadError` list, plus exceeded time limits).
 */
export const RETRYABLE_SERVER_CODES: ReadonlySet<number> = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  63, // StaleShardVersion
  64, // WriteConcernFailed (the write may still land; commits are idempotent by key)
  89, // NetworkTimeout
  91, // ShutdownInProgress
  133, // FailedToSatisfyReadPreference
  134, // ReadConcernMajorityNotAvailableYet
  150, // StaleEpoch
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13388, // StaleConfig
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
]);

/** True when `err` is a MongoDB duplicate-key error (code 11000). */
export function isDuplicateKeyError(err: unknown): boolean {
  return err instanceof MongoError && err.code === DUPLICATE_KEY;
}

/**
 * Indexes of the documents an unordered `insertMany` of `docCount` documents found stored already
 * (duplicate key), when that is all `err` says and every other document was inserted. Rethrows
 * `err` otherwise: another kind of error, another kind of write error, or a batch cut short (the
 * connection dropped mid-write also arrives as a MongoBulkWriteError, with fewer write errors than
 * missing documents), whose missing documents must not read as stored.
 */
export function duplicateIndexesOrThrow(err: unknown, docCount: number): number[] {
  if (!(err instanceof MongoBulkWriteError)) throw err;
  const duplicates: number[] = [];
  for (const we of [err.writeErrors].flat()) {
    if (we?.code !== DUPLICATE_KEY) throw err;
    duplicates.push(we.index);
  }
  if (duplicates.length === 0 || err.insertedCount + duplicates.length !== docCount) throw err;
  return duplicates;
}

/**
 * Inserts `docs` in one unordered insert and returns the indexes of those found stored already
 * (duplicate key); rethrows any other failure (see duplicateIndexesOrThrow). A single document
 * goes by insertOne: the driver's bulk-write layer behind insertMany costs ~0.09 ms of JavaScript
 * a call, 8% of a whole FerretDB insert on the one-commit decisions of a light load.
 */
export async function insertUnordered<T extends Document>(
  coll: Collection<T>,
  docs: OptionalUnlessRequiredId<T>[],
): Promise<number[]> {
  const [only] = docs;
  if (only === undefined) return [];
  try {
    if (docs.length === 1) await coll.insertOne(only);
    else await coll.insertMany(docs, { ordered: false });
    return [];
  } catch (err) {
    if (docs.length === 1 && isDuplicateKeyError(err)) return [0];
    return duplicateIndexesOrThrow(err, docs.length);
  }
}

/**
 * True when a store operation that failed with `err` may succeed if tried again later: the server
 * is unreachable, restarting, not primary, or timed out. A SquallError answers with its own flag.
 */
export function isRetryableStoreError(err: unknown): boolean {
  if (err instanceof SquallError) return err.retryable;
  // A write to a socket the server just closed can surface as Node's own error, unwrapped by the
  // driver ("This socket has been ended by the other party", EPIPE): the server went away.
  if (isSocketError(err)) return true;
  if (!(err instanceof MongoError)) return false;
  if (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoOperationTimeoutError ||
    err instanceof MongoServerClosedError ||
    err instanceof MongoNotConnectedError
  ) {
    return true;
  }
  if (err.hasErrorLabel('RetryableWriteError') || err.hasErrorLabel('ResetPool')) return true;
  // A bulk write cut short by a dropped connection, and FerretDB's SQLite answering "busy".
  if (err instanceof MongoBulkWriteError && [err.writeErrors].flat().length === 0) return true;
  if (/SQLITE_BUSY|database is locked|connection \d+ to .* closed/i.test(err.message)) return true;
  if (err instanceof MongoWriteConcernError) return true;
  if (err instanceof MongoServerError && typeof err.code === 'number') return RETRYABLE_SERVER_CODES.has(err.code);
  return false;
}

/** Node's errors for a connection the other side closed or refused. */
const SOCKET_ERROR_CODES: ReadonlySet<string> = new Set([
  'EPIPE',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_DESTROYED',
]);

function isSocketError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    err instanceof Error && !(err instanceof MongoError) && typeof code === 'string' && SOCKET_ERROR_CODES.has(code)
  );
}

/**
 * Converts anything a store operation threw into a SquallError: retryable driver errors become
 * UnavailableError; a closed client is a (non-retryable) INTERNAL error; SquallErrors pass through.
 */
export function toStoreError(err: unknown, op: string): SquallError {
  if (err instanceof SquallError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isRetryableStoreError(err)) {
    return new UnavailableError(`MongoDB is unavailable (${op}): ${message}`, { cause: err, details: { op } });
  }
  const closed = err instanceof MongoTopologyClosedError;
  const code = err instanceof MongoError ? err.code : undefined;
  return new SquallError('INTERNAL', `MongoDB ${op} failed${closed ? ' (the client was closed)' : ''}: ${message}`, {
    cause: err,
    details: { op, mongoCode: code },
  });
}
