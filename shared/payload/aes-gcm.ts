/**
 * AES-256-GCM payload encryption with a key ring: new payloads are encrypted with the current key,
 * and each names its key id, so payloads written under an older key still decrypt while that key
 * stays in the ring. Key material never appears in an error or a log line; key ids do.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, PayloadCodecError } from '../errors.js';
import type { PayloadCodec } from './codec.js';

/** Encryption keys by id; `current` encrypts, all decrypt. */
export interface KeyRing {
  current: string;
  keys: ReadonlyMap<string, Uint8Array>;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Binds ciphertexts to this use: a GCM blob from elsewhere under the same key does not verify here.
const AAD = Buffer.from('squall-payload-v1');

/**
 * Parses a key ring from text: entries `<id>:<base64 of 32 bytes>` separated by commas or
 * newlines, the first being the current key (`k2:…,k1:…` rotates to k2 and still reads k1).
 * ConfigError names the entry (its position and id), never the key.
 */
export function parseKeyRing(text: string, source: string): KeyRing {
  const entries = text
    .split(/[,\n]/)
    .map((e) => e.trim())
    .filter((e) => e !== '' && !e.startsWith('#'));
  if (entries.length === 0) throw new ConfigError(`${source} holds no encryption key (want <id>:<base64 32 bytes>)`);
  const keys = new Map<string, Uint8Array>();
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    if (!KEY_ID.test(id)) {
      throw new ConfigError(
        `${source}: entry ${i + 1} has no valid key id (want <id>:<base64 32 bytes>, id [A-Za-z0-9._-]{1,64})`,
      );
    }
    const key = Buffer.from(entry.slice(colon + 1), 'base64');
    if (key.length !== 32) {
      throw new ConfigError(`${source}: key ${id} (entry ${i + 1}) decodes to ${key.length} bytes; AES-256 needs 32`);
    }
    if (keys.has(id)) throw new ConfigError(`${source}: key id ${id} appears twice`);
    keys.set(id, key);
  });
  return { current: [...keys.keys()][0] as string, keys };
}

/** Reads a key ring from a file (same format as parseKeyRing); ConfigError when unreadable. */
export function readKeyRingFile(path: string): KeyRing {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read encryption key file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return parseKeyRing(text, `encryption key file ${path}`);
}

/** The AES-256-GCM codec over `ring`: `[id length][id][iv 12][tag 16][ciphertext]`. */
export function aesGcmCodec(ring: KeyRing): PayloadCodec {
  const currentKey = ring.keys.get(ring.current);
  if (!currentKey) throw new ConfigError(`the current encryption key id ${ring.current} is not in the key ring`);
  const currentId = Buffer.from(ring.current, 'ascii');
  return {
    name: 'aes256gcm',
    conceals: true,
    encode(bytes) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv);
      cipher.setAAD(AAD);
      const body = Buffer.concat([cipher.update(bytes), cipher.final()]);
      return Buffer.concat([Buffer.from([currentId.length]), currentId, iv, cipher.getAuthTag(), body]);
    },
    decode(bytes) {
      const idEnd = 1 + (bytes[0] ?? 0);
      if (bytes.length < idEnd + IV_BYTES + TAG_BYTES) {
        throw new PayloadCodecError(`encrypted payload of ${bytes.length} bytes is truncated`);
      }
      const id = Buffer.from(bytes.subarray(1, idEnd)).toString('ascii');
      const key = ring.keys.get(id);
      if (!key) {
        throw new PayloadCodecError(
          `payload was encrypted with key id ${JSON.stringify(id)}, which is not in this key ring; add it (old keys stay for reading)`,
          { details: { keyId: id } },
        );
      }
      const iv = bytes.subarray(idEnd, idEnd + IV_BYTES);
      const tag = bytes.subarray(idEnd + IV_BYTES, idEnd + IV_BYTES + TAG_BYTES);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv);
        decipher.setAAD(AAD);
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(bytes.subarray(idEnd + IV_BYTES + TAG_BYTES)), decipher.final()]);
      } catch {
        // The cause is dropped on purpose: nothing about the key may travel further.
        throw new PayloadCodecError(
          `payload encrypted with key id ${id} fails authentication (tampered or a different key under that id)`,
          {
            details: { keyId: id },
          },
        );
      }
    },
  };
}
