/**
 * Large payloads out of band: references round-trip, a missing or altered chunk is refused naming
 * the blob, and a store keeps idempotent appends with sealed and offloaded payloads (whose bytes
 * differ on every write).
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { PayloadCodecError, PayloadTooLargeError } from '../../../shared/errors.js';
import {
  defaultPayloadLimits,
  isBlobRef,
  loadLarge,
  memoryBlobBackend,
  offloadLarge,
  payloadCodecsFrom,
  readBlobRef,
  usePayloadCodecs,
} from '../../../shared/payload/index.js';
import { createMemoryStore } from '../../../shared/store/memory-store.js';

afterEach(() => usePayloadCodecs([]));

describe('large payloads', () => {
  const limits = defaultPayloadLimits();

  it('keep small payloads in place and refuse one over the hard limit before writing', async () => {
    const blobs = memoryBlobBackend();
    const small = new Uint8Array(limits.offloadBytes).fill(1);
    expect(await offloadLarge(small, blobs, limits, 'x')).toBe(small);
    await expect(
      offloadLarge(new Uint8Array(3000), blobs, { offloadBytes: 100, maxBytes: 2000 }, 'the result'),
    ).rejects.toThrow(PayloadTooLargeError);
    expect(blobs.chunks.size).toBe(0);
  });

  it('refuse a reference whose chunk is missing or altered, naming the blob', async () => {
    const blobs = memoryBlobBackend();
    const ref = await offloadLarge(randomBytes(limits.offloadBytes * 2 + 5), blobs, limits, 'x');
    expect(isBlobRef(ref)).toBe(true);
    const { blob, chunks } = readBlobRef(ref);
    expect(chunks).toBe(3);
    const first = blobs.chunks.get(`${blob}:0`) as Uint8Array;
    first[0] = (first[0] ?? 0) ^ 1;
    await expect(loadLarge(ref, blobs)).rejects.toThrow(`large payload ${blob} does not match its hash`);
    blobs.chunks.delete(`${blob}:2`);
    await expect(loadLarge(ref, blobs)).rejects.toThrow(PayloadCodecError);
    await expect(loadLarge(ref, blobs)).rejects.toThrow(`large payload ${blob} lacks chunk 2 of 3`);
  });

  it('let a store count a retried append of the same sealed, offloaded commit as stored, and a different one as a conflict', async () => {
    usePayloadCodecs(payloadCodecsFrom({ encryptionKeys: `k1:${randomBytes(32).toString('base64')}` }));
    const store = createMemoryStore();
    const big = randomBytes(400 * 1024).toString('hex');
    const commit = {
      runId: 'r1',
      workflowId: 'w1',
      seq: 1,
      at: 0,
      events: [{ type: 'SignalReceived' as const, at: 0, signal: { type: 'big', big } }],
      commands: [],
    };
    await store.appendCommit(commit);
    await store.appendCommit(commit);
    const other = { ...commit, events: [{ type: 'SignalReceived' as const, at: 0, signal: { type: 'other' } }] };
    await expect(store.appendCommit(other)).rejects.toThrow(/already has a commit at seq 1/);
    const stored = [];
    for await (const c of store.loadHistory('r1')) stored.push(c);
    expect(stored.map((c) => c.events)).toEqual([commit.events]);
  });
});
