import { describe, expect, it } from 'vitest';
import { startExecutor } from '../../../services/executor/executor.js';
import { connectBus } from '../../../shared/bus/connect.js';
import { freshPrefix, privateServers, waitFor } from '../../harness/index.js';
import { collect, onCleanup } from './helpers.js';

describe('bus through a NATS restart', () => {
  it('a publish started while the server is down completes once it is back, and the executor carries on', async () => {
    const servers = await privateServers();
    const bus = await connectBus({ servers: servers.nats.url, prefix: freshPrefix(), publishDeadlineMs: 60_000 });
    onCleanup(() => bus.close());
    const exec = await startExecutor({ natsUrl: servers.nats.url, prefix: bus.prefix, activities: { echo: (x) => x } });
    onCleanup(() => exec.stop({ deadlineMs: 100 }));

    servers.nats.kill('SIGKILL');
    // Published while the server is down: retried (no responders / timeout) until it is back.
    const pending = bus.publish(bus.subjects.result('run1'), { n: 1 }, { msgId: 'result:run1:1:1' });
    await servers.nats.restart();
    const ack = await pending;
    expect(ack.duplicate).toBe(false);

    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    await bus.publish(
      bus.subjects.task('echo'),
      {
        runId: 'run2',
        workflowId: 'wf2',
        workflowType: 't',
        activity: 'echo',
        activitySeq: 1,
        invokeId: 'echo',
        input: 'after restart',
        attempt: 1,
        scheduledAt: Date.now(),
      },
      { msgId: 'run2:1:0' },
    );
    await waitFor('both results', () => results.length === 2, { timeoutMs: 30_000 });
    expect(results.map((r) => r.body)).toContainEqual(
      expect.objectContaining({ runId: 'run2', output: 'after restart' }),
    );
  });
});
