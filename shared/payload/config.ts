/** Payload codecs from settings (the CLI fills these from SQUALL_ENCRYPTION_KEYS and friends). */
import { ConfigError } from '../errors.js';
import { aesGcmCodec, parseKeyRing, readKeyRingFile } from './aes-gcm.js';
import type { PayloadCodec } from './codec.js';
import { deflateCodec } from './deflate.js';

/** What payload codecs to use; each field is optional, nothing set means no codec. */
export interface PayloadCodecSettings {
  /** Key ring text `<id>:<base64>,…`, the first key current. Exclusive with encryptionKeyFile. */
  encryptionKeys?: string | undefined;
  /** A file holding the key ring, one `<id>:<base64>` a line, the first current. */
  encryptionKeyFile?: string | undefined;
  /** `deflate` compresses every payload (before encryption). @default 'none' */
  compression?: string | undefined;
}

/** Builds the codecs the settings ask for, compression first; ConfigError names a wrong setting. */
export function payloadCodecsFrom(s: PayloadCodecSettings): PayloadCodec[] {
  const codecs: PayloadCodec[] = [];
  const compression = s.compression ?? 'none';
  if (compression === 'deflate') codecs.push(deflateCodec());
  else if (compression !== 'none') {
    throw new ConfigError(`payload compression must be deflate or none, got ${JSON.stringify(compression)}`);
  }
  if (s.encryptionKeys !== undefined && s.encryptionKeyFile !== undefined) {
    throw new ConfigError(
      'give encryption keys inline (SQUALL_ENCRYPTION_KEYS) or by file (SQUALL_ENCRYPTION_KEY_FILE), not both',
    );
  }
  if (s.encryptionKeys !== undefined)
    codecs.push(aesGcmCodec(parseKeyRing(s.encryptionKeys, 'SQUALL_ENCRYPTION_KEYS')));
  if (s.encryptionKeyFile !== undefined) codecs.push(aesGcmCodec(readKeyRingFile(s.encryptionKeyFile)));
  return codecs;
}
