/**
 * A signal's reply means "in the run's history", however long the routers take to decide it: a
 * Squall client is kept waiting by progress notices past every attempt it would otherwise make,
 * and is answered TimeoutError (never `accepted`) when the router's wait runs out first. A plain
 * request gets no notice, only its reply. A start's client is kept waiting the same way (its reply
 * needs only its workflowId's claim, which goes beside its commit). The decision is held by a
 * store whose append of the `add` signal's (or the start's) commit waits for the test.
 */
import { describe, expect, it } from 'vitest';
import { encodeBody } from '../../../shared/bus/codec.js';
import { PROGRESS_HEADER } from '../../../shared/bus/progress.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { TimeoutError } from '../../../shared/errors.js';
import type { HistoryEvent } from '../../../shared/history/events.js';
import { subjects } from '../../../shared/names.js';
import type { Store, StoredCommit } from '../../../shared/store/index.js';
import { loadCommits } from '../../chaos/invariants.js';
import { jsonHeaders, parseJson } from '../../e2e/json-wire.js';
import { natsUrl, waitFor } from '../../harness/index.js';
import { routerWithStore } from './helpers.js';

/** The client's whole patience without notices: 2 attempts × 300 ms. */
const PATIENCE_MS = 600;

const isAdd = (e: HistoryEvent): boolean =>
  e.type === 'SignalReceived' && (e.signal as { type?: string }).type === 'add';

/** A store whose appends holding an event `which` picks (an `add` signal) wait until `open()`; `held` counts them. */
function holding(which: (e: HistoryEvent) => boolean = isAdd): {
  wrap: (real: Store) => Store;
  open(): void;
  held(): number;
} {
  let release = (): void => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let held = 0;
  const hold = async (cs: StoredCommit[]): Promise<void> => {
    if (!cs.some((c) => c.events.some(which))) return;
    held++;
    await gate;
  };
  return {
    wrap: (real) => ({
      ...real,
      appendCommits: async (cs) => {
        await hold(cs);
        return real.appendCommits(cs);
      },
      appendChain: async (cs) => {
        await hold(cs);
        return real.appendChain(cs);
      },
    }),
    open: release,
    held: () => held,
  };
}

const signalTypes = async (store: Store, runId: string): Promise<string[]> =>
  (await loadCommits(store, runId))
    .flatMap((c) => c.events)
    .flatMap((e) => (e.type === 'SignalReceived' ? [(e.signal as { type: string }).type] : []));

async function impatientClient(prefix: string): Promise<SquallClient> {
  return connect({ servers: natsUrl(), prefix, requestTimeoutMs: PATIENCE_MS / 2, attempts: 2 });
}

/** Resolves after `ms`: how long the test holds a decision (the condition made, not awaited). */
const hold = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a request decided slowly', () => {
  it('a signal is answered only once in history, the client waiting past its attempts; the next one lands after it', async () => {
    const h = holding();
    const { store, client, prefix } = await routerWithStore(h.wrap);
    const impatient = await impatientClient(prefix);
    try {
      const { runId } = await client.start('steps', undefined, { workflowId: 'tw-1' });
      let inHistoryAtReply: string[] | undefined;
      const reply = impatient.signal('tw-1', { type: 'add' }).then(async (r) => {
        inHistoryAtReply = await signalTypes(store, runId);
        return r;
      });
      await waitFor('the add decision to be held', () => h.held() > 0);
      await hold(3 * PATIENCE_MS);
      expect(inHistoryAtReply).toBeUndefined();
      h.open();
      await expect(reply).resolves.toMatchObject({ accepted: true, workflowId: 'tw-1', runId });
      expect(inHistoryAtReply).toEqual(['add']);
      await impatient.signal('tw-1', { type: 'next' });
      expect(await signalTypes(store, runId)).toEqual(['add', 'next']);
    } finally {
      h.open();
      await impatient.close();
    }
  });

  it('a signal past the router’s wait is answered TimeoutError, and is taken once the router can', async () => {
    const h = holding();
    const { store, client, prefix } = await routerWithStore(h.wrap, { takenWaitMs: 1500 });
    const impatient = await impatientClient(prefix);
    try {
      const { runId } = await client.start('steps', undefined, { workflowId: 'tw-2' });
      const err = await impatient.signal('tw-2', { type: 'add' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TimeoutError);
      expect((err as Error).message).toMatch(
        new RegExp(`^signal \\S+ for run ${runId} \\(workflowId tw-2\\) is not in the run's history after 1500 ms`),
      );
      expect((err as Error).message).toMatch(/do not send it again$/);
      expect(await signalTypes(store, runId)).toEqual([]);
      h.open();
      await waitFor('the add in history', async () => (await signalTypes(store, runId)).length === 1);
      expect(await signalTypes(store, runId)).toEqual(['add']);
    } finally {
      h.open();
      await impatient.close();
    }
  });

  it('a plain signal request (no progress header) gets no notice: its first message is the reply', async () => {
    const h = holding();
    const { store, client, nc, prefix } = await routerWithStore(h.wrap);
    const { runId } = await client.start('steps', undefined, { workflowId: 'tw-3' });
    const headers = jsonHeaders();
    headers.set('Nats-Msg-Id', 'tw-3-add');
    const reply = nc.request(subjects(prefix).signal('tw-3'), encodeBody({ type: 'add' }, { json: true }), {
      headers,
      timeout: 20_000,
    });
    await waitFor('the add decision to be held', () => h.held() > 0);
    await hold(1000);
    h.open();
    const m = await reply;
    expect(m.headers?.has(PROGRESS_HEADER) ?? false).toBe(false);
    expect(parseJson(m.data)).toMatchObject({ accepted: true, workflowId: 'tw-3', runId });
    expect(await signalTypes(store, runId)).toEqual(['add']);
  });

  it('a start whose commit is held is answered past the client’s attempts, then stored', async () => {
    const h = holding((e) => e.type === 'RunStarted');
    const { store, prefix } = await routerWithStore(h.wrap);
    const impatient = await impatientClient(prefix);
    try {
      // Its workflowId claim goes beside the held append: the router answers from that record once
      // no notice came within a second, past the client's 600 ms, which notices kept waiting.
      const { runId, created } = await impatient.start('steps', undefined, { workflowId: 'tw-4' });
      expect(created).toBe(true);
      expect(h.held()).toBe(1);
      h.open();
      await waitFor('the start commit stored', async () =>
        (await loadCommits(store, runId)).length > 0 ? true : undefined,
      );
      expect((await loadCommits(store, runId)).map((c) => c.events[0]?.type)).toEqual(['RunStarted']);
    } finally {
      h.open();
      await impatient.close();
    }
  });
});
