/**
 * Large payloads out of band. A sealed payload (shared/payload/codec.ts) over the offload
 * threshold is cut into chunks written to a BlobBackend (JetStream for messages, MongoDB for
 * stored history and run state), and what travels or is stored in its place is a small reference
 * frame: `0xC1 0x52` then JSON `{ blob, bytes, chunks, sha256 }`. Loading a reference reads the
 * chunks back and checks their hash. Chunks are written before the reference is, so a reference
 * that exists always has its bytes; a writer that dies before publishing its reference leaves an
 * orphan blob, never a dangling reference. Payloads over the hard limit are refused.
 */
import { createHash, randomUUID } from 'node:crypto';
import { PayloadCodecError, PayloadTooLargeError } from '../errors.js';
import { SEALED_MARK } from './codec.js';

/** Where chunks live: chunk `n` of blob `id`, written once. */
export interface BlobBackend {
  /** Stores a chunk; storing the same chunk again is not an error. */
  put(id: string, n: number, bytes: Uint8Array): Promise<void>;
  /** Reads a chunk; undefined when it is not there. */
  get(id: string, n: number): Promise<Uint8Array | undefined>;
}

/** Size limits of payloads. */
export interface PayloadLimits {
  /** Payloads larger than this go out of band. @default 262_144 (256 KiB) */
  offloadBytes: number;
  /** Payloads larger than this are refused with PayloadTooLargeError. @default 67_108_864 (64 MiB) */
  maxBytes: number;
}

/** The default payload limits. */
export function defaultPayloadLimits(): PayloadLimits {
  return { offloadBytes: 256 * 1024, maxBytes: 64 * 1024 * 1024 };
}

/** Bytes per chunk: under NATS's default 1 MiB max_payload, small documents for MongoDB. */
export const BLOB_CHUNK_BYTES = 256 * 1024;
const REF_MARK = 0x52;
const CHUNK_WRITES_IN_FLIGHT = 8;

/** A reference to a payload stored out of band. */
export interface BlobRef {
  blob: string;
  bytes: number;
  chunks: number;
  sha256: string;
}

/** True when `bytes` are a reference frame (load them with loadLarge). */
export function isBlobRef(bytes: Uint8Array): boolean {
  return bytes.length > 2 && bytes[0] === SEALED_MARK && bytes[1] === REF_MARK;
}

/** Refuses a payload over `limits.maxBytes`, naming `what`, its size and the limit. */
export function checkPayloadSize(bytes: number, limits: PayloadLimits, what: string): void {
  if (bytes > limits.maxBytes) {
    throw new PayloadTooLargeError(
      `${what} is ${mib(bytes)}, over the payload limit of ${mib(limits.maxBytes)} (maxPayloadBytes); pass data this large by reference`,
      { details: { bytes, limit: limits.maxBytes } },
    );
  }
}

/**
 * Returns `bytes` when they are at most `limits.offloadBytes`; else writes them to `backend` and
 * returns a reference frame. PayloadTooLargeError over `limits.maxBytes`, before anything is written.
 */
export async function offloadLarge(
  bytes: Uint8Array,
  backend: BlobBackend | undefined,
  limits: PayloadLimits,
  what: string,
): Promise<Uint8Array> {
  checkPayloadSize(bytes.length, limits, what);
  if (bytes.length <= limits.offloadBytes || backend === undefined) return bytes;
  const ref: BlobRef = {
    blob: randomUUID(),
    bytes: bytes.length,
    chunks: Math.ceil(bytes.length / BLOB_CHUNK_BYTES),
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  for (let first = 0; first < ref.chunks; first += CHUNK_WRITES_IN_FLIGHT) {
    const writes: Promise<void>[] = [];
    for (let n = first; n < Math.min(ref.chunks, first + CHUNK_WRITES_IN_FLIGHT); n++) {
      writes.push(backend.put(ref.blob, n, bytes.subarray(n * BLOB_CHUNK_BYTES, (n + 1) * BLOB_CHUNK_BYTES)));
    }
    await Promise.all(writes);
  }
  const json = Buffer.from(JSON.stringify(ref));
  const out = new Uint8Array(2 + json.length);
  out[0] = SEALED_MARK;
  out[1] = REF_MARK;
  out.set(json, 2);
  return out;
}

/** Reads the reference in a frame (isBlobRef must hold); PayloadCodecError when malformed. */
export function readBlobRef(bytes: Uint8Array): BlobRef {
  try {
    const ref = JSON.parse(Buffer.from(bytes.subarray(2)).toString('utf8')) as BlobRef;
    if (typeof ref.blob === 'string' && Number.isSafeInteger(ref.bytes) && Number.isSafeInteger(ref.chunks)) return ref;
  } catch {
    // reported below
  }
  throw new PayloadCodecError(`large-payload reference of ${bytes.length} bytes is malformed`);
}

/**
 * Returns `bytes` unless they are a reference frame; then reads the blob from `backend` and
 * checks its size and hash (PayloadCodecError naming the blob when it is missing or differs).
 */
export async function loadLarge(bytes: Uint8Array, backend: BlobBackend | undefined): Promise<Uint8Array> {
  if (!isBlobRef(bytes)) return bytes;
  const ref = readBlobRef(bytes);
  if (backend === undefined) {
    throw new PayloadCodecError(`payload ${ref.blob} is stored out of band, and this reader has no blob store`);
  }
  const out = new Uint8Array(ref.bytes);
  for (let first = 0; first < ref.chunks; first += CHUNK_WRITES_IN_FLIGHT) {
    const reads: Promise<void>[] = [];
    for (let n = first; n < Math.min(ref.chunks, first + CHUNK_WRITES_IN_FLIGHT); n++) {
      reads.push(
        backend.get(ref.blob, n).then((chunk) => {
          if (chunk === undefined) {
            throw new PayloadCodecError(`large payload ${ref.blob} lacks chunk ${n} of ${ref.chunks}`, {
              details: { blob: ref.blob, chunk: n },
            });
          }
          out.set(chunk, n * BLOB_CHUNK_BYTES);
        }),
      );
    }
    await Promise.all(reads);
  }
  if (createHash('sha256').update(out).digest('hex') !== ref.sha256) {
    throw new PayloadCodecError(`large payload ${ref.blob} does not match its hash`, { details: { blob: ref.blob } });
  }
  return out;
}

/** A BlobBackend in memory, for the memory store and tests. */
export function memoryBlobBackend(): BlobBackend & { readonly chunks: Map<string, Uint8Array> } {
  const chunks = new Map<string, Uint8Array>();
  return {
    chunks,
    put: async (id, n, bytes) => {
      chunks.set(`${id}:${n}`, Uint8Array.from(bytes));
    },
    get: async (id, n) => chunks.get(`${id}:${n}`),
  };
}

function mib(n: number): string {
  return n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(2)} MiB`;
}
