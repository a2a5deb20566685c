import { describe, expect, it } from 'vitest';
import { setup } from 'xstate';
import { deadLetterReason, parseStart, parseStartAt } from '../../../services/router/inputs.js';
import { streamConfigs } from '../../../shared/bus/streams.js';
import { startBody } from '../../../shared/client/bodies.js';
import { activity, decide, defineWorkflow } from '../../../shared/engine/index.js';
import { InvalidInputError } from '../../../shared/errors.js';
import { checkPriority, DEFAULT_PRIORITY, PriorityRotation } from '../../../shared/flow/priority.js';
import { consumerNames, subjects } from '../../../shared/names.js';
import { sequenceWorkflow } from '../../fixtures/workflows.js';

describe('priorities', () => {
  it('accepts the integers 1 to 5 and names the field of anything else', () => {
    for (const p of [1, 3, 5]) expect(checkPriority('priority', p)).toBe(p);
    expect(() => checkPriority('priority', 0)).toThrow(InvalidInputError);
    expect(() => checkPriority('priority', 0)).toThrow(
      /^priority: must be an integer from 1 \(lowest\) to 5 \(highest\), got 0$/,
    );
    expect(() => checkPriority('priority', 6)).toThrow(/priority: .* got 6$/);
    expect(() => checkPriority('priority', 2.5)).toThrow(/must be an integer .* got 2\.5$/);
    expect(() => checkPriority('priority', '3')).toThrow(/got "3"$/);
    // Where each caller checks it: the client, the router (raw NATS JSON), a workflow's activity options.
    expect(() => startBody('w', undefined, { priority: 9 })).toThrow(/^priority: .* got 9$/);
    expect(() => parseStart('sequence', { workflowId: 'w', priority: -1 })).toThrow(/start\.priority: .* got -1/);
    expect(parseStart('sequence', { workflowId: 'w', priority: 5 }).priority).toBe(5);
    expect(() =>
      defineWorkflow({
        name: 'bad',
        activities: { stepA: { priority: 1.5 } },
        machine: setup({ actors: { stepA: activity() } }).createMachine({ id: 'bad' }),
      }),
    ).toThrow(/priority: must be an integer from 1 \(lowest\) to 5 \(highest\), got 1\.5/);
  });

  it('puts the default level on the unprioritised subject and durable, the others on their own', () => {
    const s = subjects('p');
    expect(s.taskAt('charge', DEFAULT_PRIORITY)).toBe(s.task('charge'));
    expect(s.taskAt('charge', 5)).toBe('p.task.charge.5');
    expect(s.taskLevelsOf('charge')).toBe('p.task.charge.*');
    expect(consumerNames.activityAt('charge', DEFAULT_PRIORITY)).toBe(consumerNames.activity('charge'));
    expect(consumerNames.activityAt('charge', 1)).toBe('prio1_charge');
    expect(() => s.taskAt('charge', 7)).toThrow(InvalidInputError);
  });

  it('puts a start of the default level on start.<type>, the others on start.<level>.<type>, each level with its router durable', () => {
    const s = subjects('p');
    expect(s.startAt('order', DEFAULT_PRIORITY)).toBe(s.start('order'));
    expect(s.startAt('order', 5)).toBe('p.start.5.order');
    expect(s.startLevel(1)).toBe('p.start.1.*');
    expect(() => s.startLevel(DEFAULT_PRIORITY)).toThrow(
      /priority 3 is the default level: it has no subject of its own/,
    );
    expect(() => s.startAt('order', 0)).toThrow(InvalidInputError);
    expect(s.levelOfStart('p.start.order')).toBe(DEFAULT_PRIORITY);
    expect(s.levelOfStart('p.start.4.order')).toBe(4);
    for (const other of [
      'p.start.3.order',
      'p.start.9.order',
      'p.start.05.order',
      'p.signal.w',
      'q.start.order',
      'p.start.1.a.b',
    ]) {
      expect(s.levelOfStart(other)).toBeUndefined();
    }
    expect(s.all.startLevels).toBe('p.start.*.*');
    expect(consumerNames.routerAt(DEFAULT_PRIORITY)).toBe(consumerNames.router);
    expect(consumerNames.routerAt(2)).toBe('router_prio2');
    // The inbox holds the four level subjects; the routers' shared durable takes every three-token subject of it.
    const inbox = streamConfigs('p').inbox.subjects;
    expect(inbox).toEqual(
      expect.arrayContaining(['p.start.*', 'p.start.1.*', 'p.start.2.*', 'p.start.4.*', 'p.start.5.*']),
    );
    expect(inbox).not.toContain('p.start.3.*');
    expect(s.all.inboxDefaultLevel).toBe('p.*.*');
    expect(inbox.filter((subject) => subject.split('.').length !== 3)).toEqual([
      'p.start.5.*',
      'p.start.4.*',
      'p.start.2.*',
      'p.start.1.*',
    ]);
  });

  it("a start's subject level is its run's priority; a body naming another, or a level with no subject, is refused", () => {
    const s = subjects('p');
    expect(parseStartAt(s, 'p.start.5.sequence', { workflowId: 'w' })).toMatchObject({
      workflowType: 'sequence',
      priority: 5,
    });
    expect(parseStartAt(s, 'p.start.1.sequence', { workflowId: 'w', priority: 1 }).priority).toBe(1);
    // The default subject keeps taking any priority in the body (its runs' tasks get it; routers take it in arrival order).
    expect(parseStartAt(s, 'p.start.sequence', { workflowId: 'w', priority: 5 }).priority).toBe(5);
    expect(parseStartAt(s, 'p.start.sequence', { workflowId: 'w' })).not.toHaveProperty('priority');
    const differs = (): unknown => parseStartAt(s, 'p.start.5.sequence', { workflowId: 'w', priority: 2 });
    expect(differs).toThrow(/start\.priority is 2 but its subject p\.start\.5\.sequence is of level 5/);
    expect(() => parseStartAt(s, 'p.start.3.sequence', { workflowId: 'w' })).toThrow(
      /subject p\.start\.3\.sequence is not a start's: .* with level 5, 4, 2, 1/,
    );
    let err: unknown;
    try {
      parseStartAt(s, 'p.start.4.sequence', { workflowId: 'w', from: { kind: 'resume', workflowId: 'w', runId: 'r' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(deadLetterReason(err)).toBe('invalid-input');
  });

  it("tasks take the activity's priority, else the run's; the default level sets none", () => {
    const tasks = (priority: number | undefined, def = sequenceWorkflow) =>
      decide(def, undefined, {
        kind: 'start',
        at: 0,
        workflowId: 'w',
        runId: 'r',
        ...(priority === undefined ? {} : { priority }),
      }).commands.filter((c) => c.kind === 'scheduleActivity');
    expect(tasks(undefined)[0]).not.toHaveProperty('priority');
    expect(tasks(DEFAULT_PRIORITY)[0]).not.toHaveProperty('priority');
    expect(tasks(5)[0]).toMatchObject({ activity: 'stepA', priority: 5 });
    const pinned = defineWorkflow({ ...sequenceWorkflow, activities: { stepA: { priority: 1 } } });
    expect(tasks(5, pinned)[0]).toMatchObject({ activity: 'stepA', priority: 1 });
    // Recorded on the run's start, so replay and later activities see it.
    const started = decide(sequenceWorkflow, undefined, {
      kind: 'start',
      at: 0,
      workflowId: 'w',
      runId: 'r',
      priority: 4,
    });
    expect(started.events[0]).toMatchObject({ type: 'RunStarted', priority: 4 });
    expect(started.state.priority).toBe(4);
  });

  it('weighted round-robin: higher first, each level its share, the lowest never starved', () => {
    const r = new PriorityRotation();
    const picks = Array.from({ length: 34 }, () => r.next([5, 1]));
    expect(picks[0]).toBe(5);
    expect(picks.filter((p) => p === 1)).toHaveLength(2); // 1 in 17
    // Spread out: the low level's pulls are 17 apart, not bunched.
    const lows = picks.flatMap((p, i) => (p === 1 ? [i] : []));
    expect((lows[1] ?? 0) - (lows[0] ?? 0)).toBe(17);
    const all = Array.from({ length: 31 }, () => r.next([5, 4, 3, 2, 1]));
    expect([5, 4, 3, 2, 1].map((l) => all.filter((p) => p === l).length)).toEqual([16, 8, 4, 2, 1]);
    expect(r.next([])).toBeUndefined();
    expect(r.next([2])).toBe(2);
  });
});
