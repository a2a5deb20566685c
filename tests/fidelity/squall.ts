/**
 * Runs a fidelity case through the service processes: starts its peers and its run, sends each
 * event once a query shows the run where its `when` says, then waits until the run closed or
 * reached the outcome expected of it, and reads the rest of the outcome from its history.
 */
import { isDeepStrictEqual } from 'node:util';
import type { StateValue } from 'xstate';
import type { QueryResult, SquallClient } from '../../shared/client/index.js';
import { NotFoundError } from '../../shared/errors.js';
import type { SignalEvent } from '../../shared/history/events.js';
import { eventsOf, ofType } from '../e2e/activities-helpers.js';
import { waitFor } from '../harness/index.js';
import { caseWorkflowId, type FidelityCase, type Observed, type Outcome, peerWorkflowId } from './case.js';
import { holds } from './plain.js';

/** Deadline for each wait; generous because every case runs at once on a shared machine. */
const WAIT_MS = 60_000;
/** Query interval: 60 runs poll one router. */
const POLL_MS = 100;

function observed(q: QueryResult): Observed {
  return { value: q.value as StateValue, context: q.context, tags: q.tags ?? [] };
}

/** Runs `c` through the services behind `client`; `expected` says when a run still open is done. */
export async function runSquall(client: SquallClient, c: FidelityCase, expected: Outcome): Promise<Outcome> {
  const id = caseWorkflowId(c);
  for (const peer of c.peers ?? []) await client.start(peer.name, undefined, { workflowId: peerWorkflowId(c, peer) });
  await client.start(id, c.input, { workflowId: id });
  for (const e of c.events ?? []) {
    const when = e.when;
    if (when !== undefined) {
      await waitFor(
        `${id} to be ready for ${e.event.type}`,
        async () => holds(when, observed(await client.query(id))),
        {
          timeoutMs: WAIT_MS,
          intervalMs: POLL_MS,
        },
      );
    }
    try {
      await client.signal(id, e.event);
    } catch (err) {
      // A signal whose run closed first (a timer won the race) is refused, as XState drops an event
      // sent to a stopped actor; the outcome below is compared all the same.
      const remote = err instanceof NotFoundError ? (err.details?.remote as { runId?: string } | undefined) : undefined;
      if (remote?.runId === undefined) throw err;
    }
  }
  const core = (q: QueryResult) => ({ ...observed(q), status: q.status, output: q.output });
  const want = {
    value: expected.value,
    context: expected.context,
    tags: expected.tags,
    status: expected.status,
    output: expected.output,
  };
  let q = await client.query(id);
  try {
    q = await waitFor(
      `${id} to close or reach ${JSON.stringify(want)}`,
      async () => {
        const now = await client.query(id);
        return now.status !== 'running' || isDeepStrictEqual(core(now), want) ? now : undefined;
      },
      { timeoutMs: WAIT_MS, intervalMs: POLL_MS },
    );
  } catch {
    // Never got there: compare what it shows now, so the assertion names the difference.
    q = await client.query(id);
  }
  const events = await eventsOf(client, id);
  return {
    ...core(q),
    activities: ofType(events, 'ActivityScheduled').map((e) => ({ activity: e.activity, input: e.input })),
    emitted: ofType(events, 'EventEmitted')
      .map((e) => e.event)
      .filter((e: SignalEvent) => !e.type.startsWith('squall.')),
    messages: ofType(events, 'MessageSent')
      .filter((e) => e.target.kind === 'workflow')
      .map((e) => ({ workflowId: e.target.workflowId, event: e.event })),
  };
}
