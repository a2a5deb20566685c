/** The executor's pull loop when its activity consumer is deleted under it: it recreates it and carries on. */
import { describe, expect, it } from 'vitest';
import { startExecutor } from '../../../services/executor/executor.js';
import type { TaskMessage } from '../../../shared/bus/messages.js';
import { consumerNames } from '../../../shared/names.js';
import { waitFor } from '../../harness/index.js';
import { collect, onCleanup, testBus } from '../bus/helpers.js';

const task: TaskMessage = {
  runId: 'run1',
  workflowId: 'wf1',
  workflowType: 'order',
  activity: 'echo',
  activitySeq: 1,
  invokeId: 'echo',
  input: 'hello',
  attempt: 1,
  scheduledAt: 0,
};

describe('executor pull loop', () => {
  it('recreates a deleted activity consumer and runs the tasks published after', async () => {
    const bus = await testBus();
    const results = await collect(bus, bus.streams.events, bus.subjects.all.result);
    const exec = await startExecutor({ bus, pollExpiresMs: 1_000, activities: { echo: (x: unknown) => x } });
    onCleanup(() => exec.stop({ deadlineMs: 100 }));
    await bus.jsm.consumers.delete(bus.streams.tasks, consumerNames.activity('echo'));
    await bus.publish(bus.subjects.task('echo'), task, { msgId: 'run1:1:1' });
    await waitFor('the result', () => results.length === 1, { timeoutMs: 30_000 });
    expect(results[0]?.body).toMatchObject({ ok: true, output: 'hello' });
  });
});
