/**
 * Flow-control state shared by every router and executor: small JSON documents in one JetStream
 * stream (`<PREFIX>_FLOW`, subjects `<prefix>.flow.>`, one message kept per subject), each read
 * with a direct last-by-subject get and written with compare-and-set on the subject's last
 * sequence (`Nats-Expected-Last-Subject-Sequence`). This is JetStream KV without the KV package:
 * the executor never touches MongoDB, so JetStream is the one store both sides reach.
 */
import { createHash } from 'node:crypto';
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { isStreamNotFound } from '../bus/errors.js';
import { validatePrefix } from '../names.js';

/** What a FlowState needs of a bus. */
export interface FlowBus {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
}

/** A document as read: its value and the sequence a write must expect (0: none yet). */
export interface Versioned<T> {
  value: T | undefined;
  seq: number;
}

/** The kinds of flow document, each its own subject family. */
export type FlowDocKind = 'debounce' | 'singleton' | 'runs' | 'slots' | 'rate';

/** The stream holding flow documents for `prefix`. */
export function flowStreamName(prefix: string): string {
  return `${validatePrefix(prefix).toUpperCase()}_FLOW`;
}

/**
 * The subject of one flow document: `<prefix>.flow.<kind>.<scope>.<key hash>`. `scope` is a
 * workflow type or an activity name (already a valid token); the key is hashed so any string
 * is a safe subject token.
 */
export function flowSubject(prefix: string, kind: FlowDocKind, scope: string, key: string): string {
  const hash = createHash('sha256').update(key).digest('base64url').slice(0, 32);
  return `${prefix}.flow.${kind}.${scope}.${hash}`;
}

/** Most documents whose last version a FlowState keeps. */
const MAX_KNOWN_DOCS = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What an update's change function returns: a new value (undefined clears it), or nothing to write. */
export type Change<T, R> = { value: T | undefined; result: R } | { skip: true; result: R };

/** Reads and compare-and-sets flow documents; creates the stream on first use. */
export class FlowState {
  readonly #bus: FlowBus;
  readonly stream: string;
  #ready: Promise<void> | undefined;
  /** The last version of each document this process read or wrote (see update). */
  readonly #known = new Map<string, Versioned<unknown>>();

  constructor(bus: FlowBus) {
    this.#bus = bus;
    this.stream = flowStreamName(bus.prefix);
  }

  /** Creates the stream once (idempotent across services). */
  ensure(): Promise<void> {
    this.#ready ??= this.#create().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #create(): Promise<void> {
    const { jsm, prefix } = this.#bus;
    try {
      await jsm.streams.info(this.stream);
      return;
    } catch (err) {
      if (!isStreamNotFound(err)) throw err;
    }
    try {
      await jsm.streams.add({
        name: this.stream,
        subjects: [`${prefix}.flow.>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_msgs_per_subject: 1,
        allow_direct: true,
        num_replicas: 1,
      });
    } catch (err) {
      // Another service may have created it meanwhile: fine if it exists now.
      await jsm.streams.info(this.stream).catch(() => {
        throw err;
      });
    }
  }

  /** The document on `subject`, and the sequence to expect when writing it. */
  async read<T>(subject: string): Promise<Versioned<T>> {
    await this.ensure();
    const m = await this.#bus.jsm.streams.getMessage(this.stream, { last_by_subj: subject });
    const doc: Versioned<T> =
      !m || m.data.length === 0
        ? { value: undefined, seq: m?.seq ?? 0 }
        : { value: JSON.parse(decoder.decode(m.data)) as T, seq: m.seq };
    this.#remember(subject, doc);
    return doc;
  }

  /** Writes `value` if the document is still at `seq`; false when another writer came first. */
  async write<T>(subject: string, value: T | undefined, seq: number): Promise<boolean> {
    await this.ensure();
    const data = value === undefined ? new Uint8Array(0) : encoder.encode(JSON.stringify(value));
    try {
      const ack = await this.#bus.js.publish(subject, data, { expect: { lastSubjectSequence: seq } });
      this.#remember(subject, { value, seq: ack.seq });
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) {
        this.#known.delete(subject);
        return false;
      }
      throw err;
    }
  }

  /**
   * Read-modify-write until it sticks: `change` gets the current value and returns the new one
   * (undefined clears it) with a result, or `skip` to write nothing. Returns the result.
   *
   * The first try starts from the version this process last read or wrote, without reading: its
   * compare-and-set succeeds only if nobody wrote since, which proves the change saw the current
   * document (one round trip instead of two). A `skip` decided on that version is not trusted
   * (the document may have moved on): it reads, as does a lost compare-and-set.
   */
  async update<T, R>(subject: string, change: (current: T | undefined) => Change<T, R>): Promise<R> {
    const known = this.#known.get(subject) as Versioned<T> | undefined;
    if (known) {
      const next = change(known.value);
      if (!('skip' in next) && (await this.write(subject, next.value, known.seq))) return next.result;
    }
    for (let tries = 0; ; tries++) {
      const cur = await this.read<T>(subject);
      const next = change(cur.value);
      if ('skip' in next) return next.result;
      if (await this.write(subject, next.value, cur.seq)) return next.result;
      // Lost a race: read again, after a short random pause once it keeps happening.
      if (tries > 2) await new Promise((r) => setTimeout(r, Math.random() * Math.min(100, 5 * tries)));
    }
  }

  /** Keeps the last version seen of a subject (a few thousand at most: an optimisation, never the truth). */
  #remember(subject: string, doc: Versioned<unknown>): void {
    if (this.#known.size >= MAX_KNOWN_DOCS && !this.#known.has(subject)) this.#known.clear();
    this.#known.set(subject, doc);
  }
}

/** True for the JetStream error of a compare-and-set that lost (the subject moved on). */
export function isWrongLastSequence(err: unknown): boolean {
  if (err instanceof JetStreamApiError) {
    return (
      err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
    );
  }
  return err instanceof Error && /wrong last sequence/i.test(err.message);
}
