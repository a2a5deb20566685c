/**
 * Child workflows and messages between runs: `childWorkflow()` invokes with input and output,
 * a failing child, `sendParent` (also from the child's first entry), `sendTo` the child, a
 * ping-pong, parallel children, a child left by its parent, a child's last messages before its
 * completion or failure (also of a machine child), and `sendToWorkflow` to and from a peer run. Plain XState runs the child machines as children (`plainActors`) and the driver
 * relays `sendToWorkflow` between actors.
 */
import { type AnyActorLogic, type AnyStateMachine, assign, sendParent, sendTo, setup } from 'xstate';
import { childWorkflow, sendToWorkflow } from '../../../shared/engine/index.js';
import { pingerMachine, pongerMachine } from '../../fixtures/messages/workflows.js';
import { caseWorkflowId, type ExtraWorkflow, type FidelityCase, peerWorkflowId, send } from '../case.js';
import { note, type Trail } from './util.js';

type Ctx = Trail & { results: Record<string, unknown> };
type Ev = { type: string; n?: number; from?: string };
const fresh = (): Ctx => ({ log: [], results: {} });

/** A child that adds its input's numbers after a short timer. */
const adder = setup({ types: { input: {} as { a: number; b: number }, context: {} as { sum: number } } }).createMachine(
  {
    context: ({ input }) => ({ sum: input.a + input.b }),
    initial: 'thinking',
    states: { thinking: { after: { 20: 'done' } }, done: { type: 'final' } },
    output: ({ context }) => ({ sum: context.sum }),
  },
);

/** A child whose entry action throws: the run fails. */
const crasher = setup({}).createMachine({
  initial: 'crashing',
  states: {
    crashing: {
      entry: () => {
        throw new Error('child crashed');
      },
    },
  },
});

/** A child that greets its parent on entry and waits for `bye` (with `sendParent` both ways). */
const greeter = setup({
  types: { input: {} as { name: string }, context: {} as { name: string; heard: string[] }, events: {} as Ev },
}).createMachine({
  context: ({ input }) => ({ name: input.name, heard: [] }),
  initial: 'waiting',
  states: {
    waiting: {
      entry: sendParent(({ context }) => ({ type: 'hello', from: context.name })),
      on: {
        poke: {
          actions: [assign({ heard: ({ context }) => [...context.heard, 'poke'] }), sendParent({ type: 'poked' })],
        },
        bye: 'done',
      },
    },
    done: { type: 'final' },
  },
  output: ({ context }) => ({ name: context.name, heard: context.heard }),
});

/** A child that reports to its parent when told to `go`, and completes when told to `finish`. */
const reporter = setup({ types: { input: {} as { n: number }, events: {} as Ev } }).createMachine({
  context: ({ input }) => ({ n: input.n }),
  initial: 'working',
  states: {
    working: {
      on: { go: { target: 'reported', actions: sendParent(({ context }) => ({ type: 'report', n: context.n })) } },
    },
    reported: { on: { finish: 'done' } },
    done: { type: 'final' },
  },
  output: ({ context }) => context.n * 2,
});

/**
 * A child that sends its parent 30 items from its final state's entry: they travel on the parent's
 * signal subject, its completion on the child-result subject, and the parent takes all 30 before
 * the completion (the result names the child's last message and waits for it). With `fail`, it
 * sends them on its way in and fails on a timer (XState drops the sends of a step that throws).
 */
function burster(fail: boolean): AnyStateMachine {
  const items = Array.from({ length: 30 }, (_, i) => sendParent({ type: 'item', n: i + 1 }));
  return setup({}).createMachine({
    initial: 'work',
    states: {
      work: fail ? { entry: items, after: { 10: 'boom' } } : { always: 'done' },
      boom: {
        entry: () => {
          throw new Error('burst failed');
        },
      },
      done: { type: 'final', entry: items },
    },
    output: () => 'burst done',
  });
}

/** A parent that keeps the items its child sends, then how the child ended. */
function collector(src: 'burster' | 'failingBurster', actors: Record<string, AnyActorLogic>): AnyStateMachine {
  type Kept = { items: number[]; log: string[]; result?: unknown };
  return setup({ types: { context: {} as Kept, events: {} as Ev }, actors }).createMachine({
    context: { items: [], log: [] },
    initial: 'waiting',
    states: {
      waiting: {
        invoke: {
          id: 'burst',
          src,
          onDone: { target: 'done', actions: assign({ result: ({ event }) => event.output }) },
          onError: { target: 'done', actions: assign({ log: ({ context }) => [...context.log, 'child failed'] }) },
        },
        on: { item: { actions: assign({ items: ({ context, event }) => [...context.items, event.n ?? 0] }) } },
      },
      done: { type: 'final' },
    },
    output: ({ context }) => context,
  });
}

/** A child that never finishes on its own. */
const sleeper = setup({}).createMachine({ initial: 'sleeping', states: { sleeping: {} } });

const ADDER: ExtraWorkflow = { name: 'fid-child-adder', machine: adder };
const CRASHER: ExtraWorkflow = { name: 'fid-child-crasher', machine: crasher };
const GREETER: ExtraWorkflow = { name: 'fid-child-greeter', machine: greeter };
const SLEEPER: ExtraWorkflow = { name: 'fid-child-sleeper', machine: sleeper };
const REPORTER: ExtraWorkflow = { name: 'fid-child-reporter', machine: reporter };
const PONGER: ExtraWorkflow = { name: 'fid-child-ponger', machine: pongerMachine };
const BURSTER: ExtraWorkflow = { name: 'fid-child-burster', machine: burster(false) };
const FAILING_BURSTER: ExtraWorkflow = { name: 'fid-child-failing-burster', machine: burster(true) };
const bursters = { burster: BURSTER.machine, failingBurster: FAILING_BURSTER.machine };

const parent = setup({
  types: { context: {} as Ctx, events: {} as Ev },
  actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) },
  actors: {
    adder: childWorkflow<{ a: number; b: number }, { sum: number }>({ workflowType: ADDER.name }),
    crasher: childWorkflow({ workflowType: CRASHER.name }),
    greeter: childWorkflow<{ name: string }, unknown>({ workflowType: GREETER.name }),
    sleeper: childWorkflow({ workflowType: SLEEPER.name }),
    reporter: childWorkflow<{ n: number }, number>({ workflowType: REPORTER.name }),
  },
});
const keep = (key: string) =>
  assign<Ctx, Ev & { output: unknown }, undefined, Ev, never>({
    results: ({ context, event }) => ({ ...context.results, [key]: event.output }),
  });
const plain = { adder, crasher, greeter, sleeper, reporter };

/** A peer that answers every `ask` from the case run `asker` with `answer` (n + 1), by workflowId. */
function answerer(asker: string): AnyStateMachine {
  return setup({ types: { context: {} as { asked: number }, events: {} as Ev } }).createMachine({
    context: { asked: 0 },
    initial: 'serving',
    states: {
      serving: {
        on: {
          ask: {
            actions: [
              assign({ asked: ({ context }) => context.asked + 1 }),
              sendToWorkflow(asker, ({ event }) => ({ type: 'answer', n: (event.n ?? 0) + 1 })),
            ],
          },
        },
      },
    },
  });
}
const ASK = { name: 'ask-peer' };
const ANSWERER: ExtraWorkflow = { name: 'fid-peer-answerer', machine: answerer(caseWorkflowId(ASK)) };

export const children: FidelityCase[] = [
  {
    name: 'send-to-child-in-invoking-entry',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'waiting',
      states: {
        waiting: {
          invoke: {
            id: 'rep',
            src: 'reporter',
            input: { n: 21 },
            onDone: { target: 'done', actions: [keep('rep'), note('done event')] },
          },
          entry: sendTo('rep', { type: 'go' }),
          on: {
            report: {
              actions: [
                assign({ log: ({ context, event }) => [...context.log, `report ${event.n}`] }),
                sendTo('rep', { type: 'finish' }),
              ],
            },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context,
    }),
    plainActors: plain,
    workflows: [REPORTER],
  },
  {
    name: 'child-output',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'adding',
      states: {
        adding: {
          invoke: { id: 'add', src: 'adder', input: { a: 2, b: 40 }, onDone: { target: 'done', actions: keep('add') } },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.results,
    }),
    plainActors: plain,
    workflows: [ADDER],
  },
  {
    name: 'child-failed',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'running',
      states: {
        running: {
          invoke: {
            id: 'crash',
            src: 'crasher',
            onDone: 'unexpected',
            onError: { target: 'recovered', actions: note('child failed') },
          },
        },
        unexpected: { type: 'final' },
        recovered: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    plainActors: plain,
    workflows: [CRASHER],
  },
  {
    name: 'child-send-parent-and-send-to',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'talking',
      states: {
        talking: {
          invoke: {
            id: 'kid',
            src: 'greeter',
            input: { name: 'kim' },
            onDone: { target: 'done', actions: keep('kid') },
          },
          on: {
            hello: {
              actions: [
                assign({ log: ({ context, event }) => [...context.log, `hello from ${event.from}`] }),
                sendTo('kid', { type: 'poke' }),
              ],
            },
            poked: { actions: [note('poked'), sendTo('kid', { type: 'bye' })] },
          },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context,
    }),
    plainActors: plain,
    workflows: [GREETER],
  },
  {
    name: 'child-last-messages',
    machine: collector('burster', {
      burster: childWorkflow({ workflowType: BURSTER.name }),
      failingBurster: childWorkflow({ workflowType: FAILING_BURSTER.name }),
    }),
    plainActors: bursters,
    workflows: [BURSTER],
  },
  {
    name: 'child-messages-then-failure',
    machine: collector('failingBurster', {
      burster: childWorkflow({ workflowType: BURSTER.name }),
      failingBurster: childWorkflow({ workflowType: FAILING_BURSTER.name }),
    }),
    plainActors: bursters,
    workflows: [FAILING_BURSTER],
  },
  {
    // A machine in setup({ actors }) is a child run too, and reports the same way.
    name: 'machine-child-last-messages',
    machine: collector('burster', bursters),
  },
  {
    name: 'child-ping-pong',
    input: { rounds: 5 },
    machine: pingerMachine(childWorkflow({ workflowType: PONGER.name })),
    plainActors: { ponger: pongerMachine },
    workflows: [PONGER],
  },
  {
    name: 'children-parallel',
    machine: parent.createMachine({
      context: fresh(),
      type: 'parallel',
      states: {
        one: {
          initial: 'run',
          states: {
            run: {
              invoke: {
                id: 'one',
                src: 'adder',
                input: { a: 1, b: 1 },
                onDone: { target: 'ok', actions: keep('one') },
              },
            },
            ok: { type: 'final' },
          },
        },
        two: {
          initial: 'run',
          states: {
            run: {
              invoke: {
                id: 'two',
                src: 'adder',
                input: { a: 2, b: 3 },
                onDone: { target: 'ok', actions: keep('two') },
              },
            },
            ok: { type: 'final' },
          },
        },
      },
      output: ({ context }) => context.results,
    }),
    plainActors: plain,
    workflows: [ADDER],
  },
  {
    name: 'child-left-by-parent',
    machine: parent.createMachine({
      context: fresh(),
      initial: 'waiting',
      states: {
        waiting: {
          invoke: { id: 'nap', src: 'sleeper', onDone: 'unexpected', onError: 'unexpected' },
          on: { wake: { target: 'awake', actions: note('woke without the child') } },
        },
        unexpected: { type: 'final' },
        awake: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'wake' })],
    plainActors: plain,
    workflows: [SLEEPER],
  },
  {
    name: ASK.name,
    machine: parent.createMachine({
      context: fresh(),
      initial: 'asking',
      states: {
        asking: {
          entry: [
            sendToWorkflow(peerWorkflowId(ASK, ANSWERER), { type: 'ask', n: 1 }),
            sendToWorkflow(peerWorkflowId(ASK, ANSWERER), { type: 'ask', n: 10 }),
          ],
          on: { answer: { actions: assign({ log: ({ context, event }) => [...context.log, `answer ${event.n}`] }) } },
          always: { guard: ({ context }) => context.log.length === 2, target: 'done' },
        },
        done: { type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    peers: [ANSWERER],
  },
];
