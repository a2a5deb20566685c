/**
 * The payload codec hook: the one choke point every user payload passes through at rest and on
 * the wire. Message bodies (shared/bus/codec.ts) and stored history and run state
 * (shared/store/documents.ts) call sealPayload/openPayload on their bytes; whatever codecs the
 * process installed (compression, encryption, your own) apply there, and nowhere else.
 *
 * A sealed payload is framed: `0xC1` (a byte MessagePack never uses, and never the first byte of
 * JSON or of a stored format version), a frame version, the names of the codecs that encoded it,
 * then their output. Bytes without the mark are plain and pass through unchanged, so payloads
 * written before codecs were turned on still read, and so does JSON sent with the `nats` CLI.
 */
import { PayloadCodecError } from '../errors.js';

/** Encodes and decodes bytes; installed with usePayloadCodecs. */
export interface PayloadCodec {
  /** Stable name written in each sealed payload (ASCII letters, digits, `-`, at most 32 chars). */
  readonly name: string;
  /** True when its output hides the content (encryption): plain copies of payloads are then left out of documents. */
  readonly conceals?: boolean;
  encode(bytes: Uint8Array): Uint8Array;
  /** Throws PayloadCodecError when the bytes cannot be decoded (wrong key, tampered, truncated). */
  decode(bytes: Uint8Array): Uint8Array;
}

/** First byte of a sealed payload. */
export const SEALED_MARK = 0xc1;
const FRAME_VERSION = 1;
const NAME = /^[A-Za-z0-9-]{1,32}$/;

let installed: readonly PayloadCodec[] = [];
let byName = new Map<string, PayloadCodec>();

/**
 * Installs the codecs of this process, applied in order on encode and in reverse on decode
 * (compression before encryption). One set per process; `[]` turns sealing off (reading sealed
 * payloads then fails with PayloadCodecError).
 */
export function usePayloadCodecs(codecs: readonly PayloadCodec[]): void {
  const names = new Map<string, PayloadCodec>();
  for (const c of codecs) {
    if (!NAME.test(c.name))
      throw new PayloadCodecError(`payload codec name ${JSON.stringify(c.name)} is not [A-Za-z0-9-]{1,32}`);
    if (names.has(c.name)) throw new PayloadCodecError(`payload codec ${c.name} is installed twice`);
    names.set(c.name, c);
  }
  installed = [...codecs];
  byName = names;
}

/** The codecs installed in this process, in encode order. */
export function installedPayloadCodecs(): readonly PayloadCodec[] {
  return installed;
}

/** True when an installed codec hides payloads, so documents must not hold plain copies of them. */
export function payloadsConcealed(): boolean {
  return installed.some((c) => c.conceals === true);
}

/** True when `bytes` are a sealed payload (begin with the mark). */
export function isSealed(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === SEALED_MARK;
}

/** Encodes `bytes` with the installed codecs; unchanged when none is installed. */
export function sealPayload(bytes: Uint8Array): Uint8Array {
  if (installed.length === 0) return bytes;
  let body = bytes;
  for (const c of installed) body = c.encode(body);
  const chain = Buffer.from(installed.map((c) => c.name).join(','), 'ascii');
  const out = new Uint8Array(3 + chain.length + body.length);
  out[0] = SEALED_MARK;
  out[1] = FRAME_VERSION;
  out[2] = chain.length;
  out.set(chain, 3);
  out.set(body, 3 + chain.length);
  return out;
}

/**
 * Decodes a sealed payload with the codecs its frame names (each must be installed); plain bytes
 * come back unchanged. PayloadCodecError says which codec is missing or failed.
 */
export function openPayload(bytes: Uint8Array): Uint8Array {
  if (!isSealed(bytes)) return bytes;
  if (bytes[1] === 0x52) {
    throw new PayloadCodecError(
      'payload is a reference to a large payload stored out of band; load it before decoding',
    );
  }
  if (bytes.length < 3 || bytes[1] !== FRAME_VERSION) {
    throw new PayloadCodecError(
      `sealed payload of ${bytes.length} bytes has frame version ${bytes[1] ?? 'none'}; this build reads version ${FRAME_VERSION}`,
    );
  }
  const chainEnd = 3 + (bytes[2] ?? 0);
  if (bytes.length < chainEnd) throw new PayloadCodecError(`sealed payload of ${bytes.length} bytes is truncated`);
  const names = Buffer.from(bytes.subarray(3, chainEnd)).toString('ascii').split(',');
  let body = bytes.subarray(chainEnd);
  for (const name of names.reverse()) {
    const codec = byName.get(name);
    if (!codec) {
      throw new PayloadCodecError(
        `payload was sealed with codec ${JSON.stringify(name)}, which this process does not have; ` +
          'configure the same codecs as its writer (docs/security.md#payload-encryption)',
        { details: { codec: name } },
      );
    }
    body = codec.decode(body);
  }
  return body;
}
