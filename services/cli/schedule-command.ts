/** `squall schedule <op>`: one schedule request through the client; the reply printed as JSON. */
import type { SquallClient } from '../../shared/client/index.js';
import type { ScheduleSpec } from '../../shared/schedules/index.js';
import type { CliIO } from './io.js';
import type { CommandOf } from './types.js';

export async function runSchedule(client: SquallClient, c: CommandOf<'schedule'>, io: CliIO): Promise<number> {
  const out = (value: unknown): void => io.stdout(JSON.stringify(value));
  const s = client.schedules;
  const id = c.id;
  switch (c.op) {
    case 'create':
      await s.create(id, c.spec as unknown as ScheduleSpec);
      out({ id, created: true });
      return 0;
    case 'update':
      await s.update(id, c.spec as Partial<ScheduleSpec>);
      out({ id, updated: true });
      return 0;
    case 'pause':
      await s.pause(id);
      out({ id, paused: true });
      return 0;
    case 'resume':
      await s.resume(id);
      out({ id, paused: false });
      return 0;
    case 'trigger':
      out({ id, workflowId: await s.trigger(id) });
      return 0;
    case 'backfill':
      out({ id, workflowIds: await s.backfill(id, { from: c.from as number, to: c.to as number }) });
      return 0;
    case 'delete':
      out({ id, deleted: await s.delete(id) });
      return 0;
    case 'describe':
      out(await s.describe(id));
      return 0;
  }
}

/** `squall schedules`: every schedule, one JSON line each. */
export async function listSchedules(client: SquallClient, io: CliIO): Promise<number> {
  let cursor: string | undefined;
  do {
    const page = await client.schedules.list(cursor === undefined ? {} : { cursor });
    for (const rec of page.schedules) io.stdout(JSON.stringify(rec));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return 0;
}
