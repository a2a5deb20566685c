/**
 * Inspecting a run through real servers: a charge that fails once and succeeds on its second
 * attempt; `squall history --table` shows times, both attempts and the error, `squall describe
 * --table` the state, tags and accepted signals, and queries report the state's tags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExecutor } from '../../../services/executor/executor.js';
import { startRouter } from '../../../services/router/router.js';
import { startTimer } from '../../../services/timer/timer.js';
import { connect, type SquallClient } from '../../../shared/client/index.js';
import { defineActivity } from '../../../shared/engine/index.js';
import { silentLogger } from '../../../shared/log.js';
import { billingWorkflow } from '../../fixtures/inspect/workflows.js';
import { runCli as runCliIn } from '../../harness/cli.js';
import { freshDbName, freshPrefix, mongoUrl, natsUrl, waitFor } from '../../harness/index.js';

const stops: (() => Promise<void>)[] = [];
let client: SquallClient;
let env: Record<string, string>;

beforeAll(async () => {
  const prefix = freshPrefix();
  const dbName = freshDbName();
  env = { NATS_URL: natsUrl(), MONGO_URL: mongoUrl(), SQUALL_PREFIX: prefix, SQUALL_DB: dbName };
  const common = { natsUrl: natsUrl(), prefix, log: silentLogger };
  const charge = defineActivity('charge', async (_input: unknown, ctx) => {
    if (ctx.attempt === 1) throw new Error('card service down');
    return { chargeId: `ch-${ctx.attempt}` };
  });
  const router = await startRouter({ ...common, mongoUrl: mongoUrl(), dbName, workflows: [billingWorkflow] });
  const timer = await startTimer({ ...common, mongoUrl: mongoUrl(), dbName });
  const executor = await startExecutor({ ...common, activities: [charge] });
  stops.push(
    () => executor.stop(),
    () => timer.stop(),
    () => router.stop(),
  );
  client = await connect({ servers: natsUrl(), prefix });
});
afterAll(async () => {
  await client.close();
  for (const stop of stops) await stop();
});

const runCli = (argv: string[]) => runCliIn(argv, env);

describe('inspecting a run', () => {
  it('shows attempts, errors, times, tags and accepted signals', async () => {
    await client.start('billing', undefined, { workflowId: 'bill-1' });
    const q = await waitFor('the charge to succeed on its second attempt', async () => {
      const r = await client.query('bill-1');
      return r.value === 'review' ? r : undefined;
    });
    expect(q.tags).toEqual(['needs-review']);
    expect(q.accepts).toEqual(['approve']);

    const history = await runCli(['history', 'bill-1', '--table']);
    expect(history.err).toEqual([]);
    expect(history.code).toBe(0);
    const rows = history.out;
    expect(rows[0]).toMatch(/^seq\s+time\s+\+ms\s+event\s+detail$/);
    expect(rows[1]).toMatch(/^1\s+\d\d:\d\d:\d\d\.\d{3}\s+0\s+RunStarted\s+billing@1/);
    const events = rows.slice(1).map((r) => r.replace(/^\d*\s+(\d\d:\d\d:\d\d\.\d{3}\s+\d+\s+)?/, ''));
    expect(events).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ActivityScheduled\s+#1 charge$/),
        expect.stringMatching(/^ActivityFailed\s+#1 attempt 1 card service down$/),
        expect.stringMatching(/^TimerScheduled\s+#2 retry of #1 attempt 2 in \d+ ms$/),
        expect.stringMatching(/^ActivityCompleted\s+#1 attempt 2 output=\{"chargeId":"ch-2"\}$/),
      ]),
    );
    // In order: the failure, its retry timer, then the second attempt's success.
    const at = (re: RegExp) => events.findIndex((e) => re.test(e));
    expect(at(/^ActivityFailed/)).toBeLessThan(at(/^TimerScheduled/));
    expect(at(/^TimerScheduled/)).toBeLessThan(at(/^ActivityCompleted/));

    const described = await runCli(['describe', 'bill-1', '--table']);
    expect(described.code).toBe(0);
    expect(described.out).toEqual(
      expect.arrayContaining([
        'workflow  bill-1 (billing v1)',
        'status    running',
        'state     review',
        'tags      needs-review',
        'accepts   approve',
      ]),
    );

    // The JSON forms stay one object per line.
    const json = await runCli(['describe', 'bill-1']);
    expect(JSON.parse(json.out[0] as string)).toMatchObject({ status: 'running', query: { tags: ['needs-review'] } });
  });
});
