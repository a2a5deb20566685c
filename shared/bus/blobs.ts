/**
 * The JetStream BlobBackend: chunks of large message payloads on `<prefix>.blob.<blobId>.<n>` in
 * the `<P>_BLOBS` stream, read back by subject. Every party that sends or reads messages (client,
 * executor, router) reaches it, none needs MongoDB (see docs/storage.md#large-payloads).
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { type StreamNames, streamNames, subjects } from '../names.js';
import type { BlobBackend } from '../payload/blobs.js';
import { retryWithBackoff } from './backoff.js';
import { isRetryableNatsError, natsErrorToSquall } from './errors.js';

/** Settings of jetStreamBlobBackend. */
export interface JetStreamBlobSettings {
  /** Keep retrying a chunk write or read that fails for a passing reason this long. @default 30_000 */
  deadlineMs?: number;
}

/** Chunks over JetStream; `manager` is asked for lazily (the client makes one only when needed). */
export function jetStreamBlobBackend(
  js: JetStreamClient,
  manager: () => Promise<JetStreamManager>,
  prefix: string,
  settings: JetStreamBlobSettings = {},
): BlobBackend {
  const s = subjects(prefix);
  const stream: StreamNames['blobs'] = streamNames(prefix).blobs;
  const deadlineMs = settings.deadlineMs ?? 30_000;
  const retrying = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await retryWithBackoff(fn, { isRetryable: isRetryableNatsError, deadlineMs });
    } catch (err) {
      throw natsErrorToSquall(err, what);
    }
  };
  return {
    async put(id, n, bytes) {
      const subject = s.blobChunk(id, n);
      await retrying(`storing ${subject}`, () => js.publish(subject, bytes, { msgID: `${id}:${n}` }));
    },
    async get(id, n) {
      const subject = s.blobChunk(id, n);
      const jsm = await manager();
      const m = await retrying(`reading ${subject}`, () => jsm.streams.getMessage(stream, { last_by_subj: subject }));
      return m?.data;
    },
  };
}
