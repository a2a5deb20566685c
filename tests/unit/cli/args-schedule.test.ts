import { describe, expect, it } from 'vitest';
import { parseCli, UsageError } from '../../../services/cli/main.js';

function refused(argv: string[]): string {
  try {
    parseCli(argv, {});
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
}

describe('parseCli: schedule', () => {
  it('reads each operation with what it needs', () => {
    const spec = '{"cron":"0 2 * * *","workflow":{"type":"report"}}';
    expect(parseCli(['schedule', 'create', 'nightly', '--spec', spec]).command).toEqual({
      kind: 'schedule',
      op: 'create',
      id: 'nightly',
      spec: { cron: '0 2 * * *', workflow: { type: 'report' } },
    });
    expect(parseCli(['schedules']).command).toEqual({ kind: 'schedules' });
    expect(parseCli(['schedule', 'pause', 'nightly']).command).toEqual({
      kind: 'schedule',
      op: 'pause',
      id: 'nightly',
    });
    expect(
      parseCli(['schedule', 'backfill', 'nightly', '--from', '2026-11-01T00:00:00Z', '--to', '1764547200000']).command,
    ).toEqual({
      kind: 'schedule',
      op: 'backfill',
      id: 'nightly',
      from: Date.parse('2026-11-01T00:00:00Z'),
      to: 1764547200000,
    });
  });

  it('refuses what an operation cannot take, naming it', () => {
    expect(refused(['schedule', 'explode', 'x'])).toMatch(/must be one of create, update, pause/);
    expect(refused(['schedule', 'pause'])).toMatch(/schedule: missing <id>/);
    expect(refused(['schedule', 'create', 'x'])).toMatch(/schedule create: needs --spec/);
    expect(refused(['schedule', 'pause', 'x', '--spec', '{}'])).toMatch(/schedule pause: takes no --spec/);
    expect(refused(['schedule', 'backfill', 'x', '--from', '2026-01-01'])).toMatch(/needs --to/);
    expect(refused(['schedule', 'backfill', 'x', '--from', 'yesterday', '--to', '1'])).toMatch(
      /--from "yesterday" is not/,
    );
    expect(refused(['schedule', 'trigger', 'x', '--from', '1'])).toMatch(/schedule trigger: takes no --from/);
    expect(refused(['schedule', 'create', 'a.b', '--spec', '{}'])).toMatch(/workflowId/);
  });
});
