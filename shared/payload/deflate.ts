/** The compression payload codec: raw DEFLATE (node:zlib), worth it for JSON-like payloads. */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { PayloadCodecError } from '../errors.js';
import type { PayloadCodec } from './codec.js';

/** Options of deflateCodec. */
export interface DeflateOptions {
  /** zlib level, 1 (fast) to 9 (small). @default 6 */
  level?: number;
}

/** Compresses payloads with raw DEFLATE; install it before an encryption codec. */
export function deflateCodec(o: DeflateOptions = {}): PayloadCodec {
  const level = o.level ?? 6;
  return {
    name: 'deflate',
    encode: (bytes) => deflateRawSync(bytes, { level }),
    decode(bytes) {
      try {
        return inflateRawSync(bytes);
      } catch (err) {
        throw new PayloadCodecError(
          `compressed payload of ${bytes.length} bytes does not inflate: ${(err as Error).message}`,
        );
      }
    },
  };
}
