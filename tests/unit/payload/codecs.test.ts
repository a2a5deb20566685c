/**
 * Payload codecs: sealing round-trips through compression and encryption, key rotation keeps old
 * payloads readable, wrong keys and tampering fail with PayloadCodecError, and no key material
 * ever shows in an error. Also the two byte boundaries that call the choke point.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCli, UsageError } from '../../../services/cli/args.js';
import { decodeBody, encodeBody } from '../../../shared/bus/codec.js';
import { ConfigError, PayloadCodecError } from '../../../shared/errors.js';
import {
  aesGcmCodec,
  deflateCodec,
  isSealed,
  openPayload,
  parseKeyRing,
  payloadCodecsFrom,
  sealPayload,
  usePayloadCodecs,
} from '../../../shared/payload/index.js';
import { fromCommitDoc, fromRunDoc, toCommitDoc, toRunFields } from '../../../shared/store/documents.js';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const secret = 'PLAINTEXT-CANARY-7f3a';
const bytes = (s: string) => new TextEncoder().encode(s);
const contains = (hay: Uint8Array, needle: string) => Buffer.from(hay).includes(Buffer.from(needle));

afterEach(() => usePayloadCodecs([]));

describe('payload codecs', () => {
  it('leave bytes unchanged when none is installed, and pass plain bytes through open', () => {
    const b = bytes(secret);
    expect(sealPayload(b)).toBe(b);
    usePayloadCodecs(payloadCodecsFrom({ encryptionKeys: `k1:${k1}` }));
    expect(openPayload(b)).toBe(b);
  });

  it('compress then encrypt, and open back to the same bytes', () => {
    usePayloadCodecs(payloadCodecsFrom({ compression: 'deflate', encryptionKeys: `k1:${k1}` }));
    const plain = bytes(secret.repeat(200));
    const sealed = sealPayload(plain);
    expect(isSealed(sealed)).toBe(true);
    expect(contains(sealed, secret)).toBe(false);
    expect(sealed.length).toBeLessThan(plain.length / 4);
    expect(Buffer.from(openPayload(sealed))).toEqual(Buffer.from(plain));
  });

  it('rotate keys: new payloads use the current key, older key ids still decode', () => {
    usePayloadCodecs([aesGcmCodec(parseKeyRing(`k1:${k1}`, 'test'))]);
    const old = sealPayload(bytes(secret));
    usePayloadCodecs([aesGcmCodec(parseKeyRing(`k2:${k2}\nk1:${k1}`, 'test'))]);
    const fresh = sealPayload(bytes(secret));
    expect(contains(fresh, 'k2')).toBe(true);
    expect(Buffer.from(openPayload(old)).toString()).toBe(secret);
    expect(Buffer.from(openPayload(fresh)).toString()).toBe(secret);
    // Without k1 the old payload names the key it needs.
    usePayloadCodecs([aesGcmCodec(parseKeyRing(`k2:${k2}`, 'test'))]);
    expect(() => openPayload(old)).toThrow(/key id "k1", which is not in this key ring/);
  });

  it('refuse a tampered payload, a different key under the same id and a missing codec, naming no key', () => {
    usePayloadCodecs(payloadCodecsFrom({ encryptionKeys: `k1:${k1}` }));
    const sealed = sealPayload(bytes(secret));
    const tampered = Uint8Array.from(sealed);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    const errors: unknown[] = [];
    const capture = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        errors.push(err);
      }
    };
    capture(() => openPayload(tampered));
    usePayloadCodecs(payloadCodecsFrom({ encryptionKeys: `k1:${k2}` }));
    capture(() => openPayload(sealed));
    usePayloadCodecs([deflateCodec()]);
    capture(() => openPayload(sealed));
    expect(errors).toHaveLength(3);
    for (const err of errors) {
      expect(err).toBeInstanceOf(PayloadCodecError);
      const text = JSON.stringify({
        m: (err as Error).message,
        d: (err as PayloadCodecError).details,
        c: String((err as Error).cause),
      });
      expect(text).not.toContain(k1);
      expect(text).not.toContain(k2);
      expect(text).not.toContain(Buffer.from(k1, 'base64').toString('hex'));
    }
    expect((errors[0] as Error).message).toMatch(/fails authentication/);
    expect((errors[2] as Error).message).toMatch(/codec "aes256gcm", which this process does not have/);
  });

  it('refuse bad key settings with a ConfigError that names the entry, not the key', () => {
    const short = Buffer.from('too short').toString('base64');
    expect(() => payloadCodecsFrom({ encryptionKeys: `k1:${k1},k9:${short}` })).toThrow(ConfigError);
    try {
      payloadCodecsFrom({ encryptionKeys: `k1:${k1},k9:${short}` });
    } catch (err) {
      expect((err as Error).message).toMatch(/key k9 \(entry 2\) decodes to 9 bytes/);
      expect((err as Error).message).not.toContain(short);
      expect((err as Error).message).not.toContain(k1);
    }
    expect(() => payloadCodecsFrom({ encryptionKeys: k1 })).toThrow(/entry 1 has no valid key id/);
    expect(() => payloadCodecsFrom({ encryptionKeys: `k1:${k1},k1:${k2}` })).toThrow(/k1 appears twice/);
    expect(() => payloadCodecsFrom({ compression: 'gzip' })).toThrow(/deflate or none, got "gzip"/);
    expect(() => payloadCodecsFrom({ encryptionKeyFile: '/nonexistent/keys' })).toThrow(
      /cannot read encryption key file/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'squall-keys-'));
    try {
      writeFileSync(join(dir, 'keys'), `# current first\nk2:${k2}\nk1:${k1}\n`);
      expect(payloadCodecsFrom({ encryptionKeyFile: join(dir, 'keys') })).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('seal message bodies and stored documents, and keep no plain copy of output or memo', () => {
    usePayloadCodecs(payloadCodecsFrom({ compression: 'deflate', encryptionKeys: `k1:${k1}` }));
    const body = encodeBody({ input: { card: secret } });
    expect(contains(body, secret)).toBe(false);
    expect(decodeBody(body, undefined, 'squall.start.x')).toEqual({ input: { card: secret } });

    const commit = {
      runId: 'r1',
      workflowId: 'w1',
      seq: 1,
      at: 1,
      events: [{ type: 'RunStarted', at: 1, input: secret }],
      commands: [],
    };
    const doc = toCommitDoc(commit as never, 1 << 20);
    expect(contains(doc.events.value(), secret)).toBe(false);
    expect(fromCommitDoc(doc).events).toEqual(commit.events);

    const state = {
      runId: 'r1',
      workflowId: 'w1',
      workflowType: 't',
      version: 1,
      status: 'completed',
      lastSeq: 1,
      startedAt: 1,
      updatedAt: 1,
      closedAt: 1,
      snapshot: { value: 'done', context: { secret } },
      output: { secret },
      memo: { secret },
    };
    const fields = toRunFields(state as never, 1 << 20, 86_400_000);
    expect(JSON.stringify({ ...fields, state: undefined })).not.toContain(secret);
    expect(contains(fields.state.value(), secret)).toBe(false);
    expect(fromRunDoc({ _id: 'r1', ...fields }).output).toEqual({ secret });
  });
});

describe('payload codecs on the command line', () => {
  it('builds them from the environment and flags, and refuses a bad key as a usage error that names no key', () => {
    const cli = parseCli(['query', 'o1', '--compression', 'deflate'], { SQUALL_ENCRYPTION_KEYS: `k2:${k2},k1:${k1}` });
    expect(cli.codecs?.map((c) => c.name)).toEqual(['deflate', 'aes256gcm']);
    expect(parseCli(['query', 'o1'], {}).codecs).toBeUndefined();
    const bad = Buffer.from(k1, 'base64').subarray(0, 16).toString('base64');
    let err: unknown;
    try {
      parseCli(['query', 'o1'], { SQUALL_ENCRYPTION_KEYS: `k1:${bad}` });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/SQUALL_ENCRYPTION_KEYS: key k1 \(entry 1\) decodes to 16 bytes/);
    expect((err as Error).message).not.toContain(bad);
  });
});
