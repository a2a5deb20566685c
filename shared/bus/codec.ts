/**
 * Message bodies on the wire: MessagePack by default, JSON when the message carries
 * `content-type: application/json` (so anyone can drive Squall with the `nats` CLI). MessagePack
 * bodies pass through the process's payload codecs (shared/payload): sealed when codecs are
 * installed, opened whenever they come sealed.
 */
import { Match, type MsgHdrs } from '@nats-io/transport-node';
import { C1, type Options, Packr } from 'msgpackr';
import { InvalidInputError, PayloadCodecError } from '../errors.js';
import { type BlobBackend, loadLarge } from '../payload/blobs.js';
import { isSealed, openPayload, sealPayload } from '../payload/codec.js';

/** The header that switches a body to JSON. */
export const CONTENT_TYPE_HEADER = 'content-type';
/** The media type of JSON bodies. */
export const JSON_CONTENT_TYPE = 'application/json';

// Plain maps, no msgpackr records, `undefined` as nil and 64-bit ints as numbers: bodies must be
// readable by any MessagePack implementation, not only by msgpackr. A property whose value is
// `undefined` is left out, as JSON.stringify does: absent and null stay distinct on the wire, so an
// activity invoked without input receives `undefined` (as in XState), not null.
const packrOptions: Options & { skipValues: unknown[] } = {
  useRecords: false,
  encodeUndefinedAsNil: true,
  // Documented in msgpackr's README, missing from its type declarations.
  skipValues: [undefined],
  int64AsType: 'number',
};
const packr = new Packr(packrOptions);
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Options of encodeBody. */
export interface EncodeOptions {
  /** Encode as JSON instead of MessagePack (for replies to JSON requests). @default false */
  json?: boolean;
}

/** True when the headers mark the body as JSON (`content-type: application/json`, any case/params). */
export function isJson(headers: MsgHdrs | undefined): boolean {
  const value = headers?.get(CONTENT_TYPE_HEADER, Match.IgnoreCase);
  if (!value) return false;
  return value.split(';')[0]?.trim().toLowerCase() === JSON_CONTENT_TYPE;
}

/**
 * Encodes a value as MessagePack sealed by the payload codecs, or as plain JSON when `opts.json`
 * (replies to JSON requests: whoever sends JSON reads JSON).
 */
export function encodeBody(value: unknown, opts: EncodeOptions = {}): Uint8Array {
  if (opts.json) return utf8Encoder.encode(JSON.stringify(value ?? null));
  return sealPayload(packr.pack(value));
}

/**
 * Decodes a body by its content type. An empty body decodes to `undefined`. Anything that cannot
 * be decoded throws InvalidInputError naming the subject and the encoding that was expected.
 */
export function decodeBody(data: Uint8Array, headers: MsgHdrs | undefined, subject: string): unknown {
  if (data.length === 0) return undefined;
  const json = isJson(headers);
  try {
    if (json) return JSON.parse(utf8Decoder.decode(data)) as unknown;
    const value = packr.unpack(isSealed(data) ? openPayload(data) : data) as unknown;
    // msgpackr yields a marker object for the never-used 0xC1 byte instead of throwing.
    if (value === C1) throw new Error('0xC1 is never used in MessagePack');
    return value;
  } catch (err) {
    if (err instanceof PayloadCodecError) {
      throw new PayloadCodecError(`body of a message on ${subject} (${data.length} bytes): ${err.message}`, {
        details: { subject, bytes: data.length, ...err.details },
      });
    }
    const encoding = json ? 'JSON' : 'MessagePack';
    const reason = err instanceof Error ? err.message : String(err);
    throw new InvalidInputError(
      `body of a message on ${subject} is not valid ${encoding} (${data.length} bytes): ${reason}` +
        (json ? '' : `; send MessagePack, or JSON with header '${CONTENT_TYPE_HEADER}: ${JSON_CONTENT_TYPE}'`),
      { cause: err, details: { subject, encoding, bytes: data.length } },
    );
  }
}

/**
 * decodeBody for a message whose body may have been sent out of band (a reference frame): loads
 * it from `blobs` first. The one decode for bodies that may carry large user payloads.
 */
export async function readLargeBody(
  msg: { data: Uint8Array; headers?: MsgHdrs | undefined; subject: string },
  blobs: BlobBackend | undefined,
): Promise<unknown> {
  return decodeBody(await loadLarge(msg.data, blobs), msg.headers, msg.subject);
}
