/**
 * Squall runs a machine as XState would (issue #16): the same machine, run by a plain XState actor
 * and through Squall, must hand its activities the same input and report the same tags.
 */
import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { type AnyActorLogic, assign, createActor, fromPromise, setup, toPromise } from 'xstate';
import { commitMessages } from '../../../services/router/outbox.js';
import { decodeBody, encodeBody } from '../../../shared/bus/codec.js';
import { type TaskMessage, validateTask } from '../../../shared/bus/messages.js';
import { activity, type Command, decide, defineWorkflow, runTags } from '../../../shared/engine/index.js';
import { subjects } from '../../../shared/names.js';
import { createTestRun } from '../../../shared/testing/index.js';

/** The activity as an author writes it: a default parameter for a call without input. */
function greet(input: { name: string } | null = { name: 'world' }): string {
  return `hello ${input === null ? 'nobody' : input.name}`;
}

/** Greets once, invoking `greet` with `input` when given one and without any input otherwise. */
function greeter(invokeInput?: { input: unknown }) {
  return setup({
    types: { context: {} as { greeting?: string } },
    actors: { greet: activity<unknown, string>() },
  }).createMachine({
    id: 'greeter',
    context: {},
    initial: 'greeting',
    states: {
      greeting: {
        invoke: {
          id: 'g',
          src: 'greet',
          ...(invokeInput ?? {}),
          onDone: { target: 'done', actions: assign({ greeting: ({ event }) => event.output as string }) },
        },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => context.greeting,
  });
}

/** What the activity receives and what the machine outputs when a plain XState actor runs it. */
async function runInXState(machine: ReturnType<typeof greeter>): Promise<{ seen: unknown[]; output: unknown }> {
  const seen: unknown[] = [];
  const logic = fromPromise(async ({ input }: { input: unknown }) => {
    seen.push(input);
    return greet(input as { name: string } | null | undefined);
  });
  const actor = createActor(machine.provide({ actors: { greet: logic as unknown as AnyActorLogic } }));
  actor.start();
  return { seen, output: await toPromise(actor) };
}

/** The task the engine's first command becomes, published and received as an executor gets it. */
function taskOnTheWire(cmd: Command, json: boolean): TaskMessage {
  const ctx = { runId: 'r1', workflowId: 'w1', workflowType: 'greeter', seq: 1, at: 0 };
  const [message] = commitMessages(subjects(), ctx, [cmd]);
  if (!message) throw new Error('the command publishes nothing');
  const h = headers();
  if (json) h.set('content-type', 'application/json');
  return validateTask(decodeBody(encodeBody(message.body, { json }), h, message.subject));
}

const INVOKES = [
  { what: 'without input', invoke: undefined },
  { what: 'with null input', invoke: { input: null } },
  { what: 'with an object input', invoke: { input: { name: 'Ada' } } },
] as const;

describe('activity input, as XState delivers it', () => {
  for (const { what, invoke } of INVOKES) {
    it(`reaches the executor as in plain XState when invoked ${what}, in MessagePack and JSON`, async () => {
      const machine = greeter(invoke);
      const xstate = await runInXState(machine);
      const definition = defineWorkflow({ name: 'greeter', machine });
      const started = decide(definition, undefined, { kind: 'start', at: 0, workflowId: 'w1', runId: 'r1' });
      const cmd = started.commands.find((c) => c.kind === 'scheduleActivity');
      if (!cmd) throw new Error('no activity scheduled');
      for (const json of [false, true]) {
        const task = taskOnTheWire(cmd, json);
        expect([task.input]).toStrictEqual(xstate.seen);
        // The executor calls the activity with `task.input`: the default parameter applies as in XState.
        const done = decide(definition, started.state, {
          kind: 'activityCompleted',
          at: 1,
          activitySeq: task.activitySeq,
          output: greet(task.input as { name: string } | null | undefined),
        });
        expect(done.state.output).toStrictEqual(xstate.output);
      }
    });

    it(`reaches a stub of the test kit as in plain XState when invoked ${what}`, async () => {
      const machine = greeter(invoke);
      const xstate = await runInXState(machine);
      const seen: unknown[] = [];
      const run = await createTestRun(defineWorkflow({ name: 'greeter', machine }), {
        activities: {
          greet: (input: unknown) => {
            seen.push(input);
            return greet(input as { name: string } | null | undefined);
          },
        },
      });
      expect(seen).toStrictEqual(xstate.seen);
      expect(run.output).toStrictEqual(xstate.output);
    });
  }
});

/** Ships an order; the final states carry tags of their own. */
const shipping = setup({ actors: { ship: activity<unknown, string>() } }).createMachine({
  id: 'shipping',
  initial: 'shipping',
  states: {
    shipping: {
      tags: ['fulfilment', 'busy'],
      invoke: { id: 's', src: 'ship', onDone: 'shipped', onError: 'lost' },
    },
    shipped: { type: 'final', tags: ['fulfilment', 'delivered'] },
    lost: { type: 'final', tags: ['problem'] },
  },
});

/** Sorted tags of a plain XState actor once its `ship` activity has settled. */
async function xstateTags(ship: () => Promise<string>): Promise<{ before: string[]; after: string[] }> {
  const actor = createActor(shipping.provide({ actors: { ship: fromPromise(ship) as unknown as AnyActorLogic } }));
  actor.start();
  const before = [...actor.getSnapshot().tags].sort();
  await toPromise(actor);
  return { before, after: [...actor.getSnapshot().tags].sort() };
}

describe('tags, as XState reports them', () => {
  const definition = defineWorkflow({ name: 'shipping', machine: shipping });

  it('a finished run keeps the tags of the final state it reached', async () => {
    const xstate = await xstateTags(async () => 'T-1');
    const pending = await createTestRun(definition, { autoRun: false });
    expect(pending.tags).toEqual(xstate.before);
    await pending.complete('ship', 'T-1');
    expect(pending.status).toBe('completed');
    expect(pending.tags).toEqual(xstate.after);
    expect(runTags(definition, pending.state)).toEqual(['delivered', 'fulfilment']);
  });

  it('the tags follow the final state the run took', async () => {
    const xstate = await xstateTags(async () => {
      throw new Error('lost in transit');
    });
    const run = await createTestRun(definition, { activities: { ship: new Error('lost in transit') } });
    expect(run.status).toBe('completed');
    expect(run.tags).toEqual(xstate.after);
    expect(run.tags).toEqual(['problem']);
  });

  it('a failed run keeps the tags of the state it failed in, as an errored XState actor does', async () => {
    const fragile = setup({ actors: { ship: activity<unknown, string>() } }).createMachine({
      id: 'fragile',
      initial: 'shipping',
      states: {
        shipping: { tags: ['fulfilment', 'busy'], invoke: { id: 's', src: 'ship', onDone: 'shipped' } },
        shipped: { type: 'final' },
      },
    });
    const failing = fromPromise(async (): Promise<string> => {
      throw new Error('lost in transit');
    });
    const actor = createActor(fragile.provide({ actors: { ship: failing as unknown as AnyActorLogic } }));
    actor.subscribe({ error: () => {} });
    actor.start();
    await expect(toPromise(actor)).rejects.toThrow('lost in transit');
    expect(actor.getSnapshot().status).toBe('error');
    const fragileDefinition = defineWorkflow({
      name: 'fragile',
      machine: fragile,
      activities: { ship: { retry: { maximumAttempts: 1 } } },
    });
    const run = await createTestRun(fragileDefinition, { activities: { ship: new Error('lost in transit') } });
    expect(run.status).toBe('failed');
    expect(run.tags).toEqual([...actor.getSnapshot().tags].sort());
  });

  it('a run whose start failed has no snapshot and no tags', () => {
    expect(runTags(definition, { snapshot: undefined })).toEqual([]);
  });
});
