/**
 * Carries out a commit's `watchEvents` command (shared/engine/wait-for-event.ts): writes the run's
 * new waits into the wait index, then catches each one up from the stream, then drops the waits
 * it left. The catch-up closes the window between the commit and the index write: an event
 * published in it was fanned out before the index knew the run, so it is read back by time
 * (from the wait's `since`) and delivered here; if the fan-out saw the entry too, the two
 * deliveries share a message id and one is dropped. It is also how `since` reaches back.
 */
import { JetStreamError } from '@nats-io/jetstream';
import type { Bus } from '../../../shared/bus/connect.js';
import type { Command } from '../../../shared/engine/types.js';
import type { EventWait } from '../../../shared/events/wait.js';
import type { Logger } from '../../../shared/log.js';
import { type EventWaitStore, toIndexedWait } from '../../../shared/store/events.js';
import type { CommandContext } from '../outbox.js';
import { deliverEvent, storedUserEvent } from './deliver.js';

/** The status of a direct get that found no message. */
const NOT_FOUND = 404;

/** Writes the wait index as runs start and stop waiting; one per router. */
export class EventWatch {
  constructor(
    private readonly bus: Bus,
    private readonly index: EventWaitStore,
    private readonly log: Logger,
  ) {}

  /** The outbox's watchEvents hook: resolves once the index is written and every catch-up delivered. */
  async apply(ctx: CommandContext, cmd: Extract<Command, { kind: 'watchEvents' }>): Promise<void> {
    if (cmd.add.length > 0) await this.index.put(ctx.runId, ctx.workflowId, cmd.add);
    await Promise.all([
      ...cmd.add.map((w) => this.catchUp(ctx, w)),
      cmd.remove.length > 0 ? this.index.drop(ctx.runId, cmd.remove) : undefined,
    ]);
  }

  /** Delivers to one new wait every event of its key stored since its `since`. */
  private async catchUp(ctx: CommandContext, wait: EventWait): Promise<void> {
    const { bus } = this;
    const target = [toIndexedWait(ctx.runId, ctx.workflowId, wait)];
    let delivered = 0;
    try {
      const iter = await bus.jsm.direct.getBatch(bus.streams.userEvents, {
        start_time: new Date(wait.since),
        next_by_subj: bus.subjects.userEvent(wait.key),
      });
      for await (const m of iter) {
        let event: ReturnType<typeof storedUserEvent>;
        try {
          event = storedUserEvent(bus, {
            subject: m.subject,
            data: m.data,
            headers: m.header,
            seq: m.seq,
            publishedAt: m.time.getTime(),
          });
        } catch (err) {
          this.log.debug('skipped an undecodable event in a catch-up (the fan-out dead-letters it)', { err });
          continue;
        }
        delivered += await deliverEvent(bus, event, target);
      }
    } catch (err) {
      // No event of the key since then: the direct get answers 404.
      if (!(err instanceof JetStreamError && (err as JetStreamError & { code?: unknown }).code === NOT_FOUND))
        throw err;
    }
    if (delivered > 0) {
      this.log.debug('caught a new wait up', {
        runId: ctx.runId,
        workflowId: ctx.workflowId,
        key: wait.key,
        delivered,
      });
    }
  }
}
