/**
 * State kinds: nested and parallel states, final states with output, `onDone` of compound and
 * parallel states, shallow and deep history, tags.
 */
import { assign, setup } from 'xstate';
import { type FidelityCase, send } from '../case.js';
import { note, type Trail } from './util.js';

const trail = setup({
  types: { context: {} as Trail, events: {} as { type: string } },
  actions: { note: assign(({ context }, entry: string) => ({ log: [...context.log, entry] })) },
});

export const states: FidelityCase[] = [
  {
    name: 'nested-drill',
    machine: trail.createMachine({
      context: { log: [] },
      initial: 'a',
      states: {
        a: {
          entry: note('a'),
          initial: 'a1',
          states: {
            a1: { entry: note('a1'), on: { next: 'a2' } },
            a2: { entry: note('a2'), initial: 'deep', states: { deep: { entry: note('deep'), on: { out: '#done' } } } },
          },
        },
        done: { id: 'done', entry: note('done'), type: 'final' },
      },
      output: ({ context }) => context.log,
    }),
    events: [send({ type: 'next' }, 'a'), send({ type: 'out' }, { a: { a2: 'deep' } })],
  },
  {
    name: 'parallel-regions',
    machine: trail.createMachine({
      context: { log: [] },
      type: 'parallel',
      states: {
        bold: {
          initial: 'off',
          states: { off: { on: { bold: 'on' } }, on: { entry: note('bold'), on: { bold: 'off' } } },
        },
        italic: {
          initial: 'off',
          states: { off: { on: { italic: 'on' } }, on: { entry: note('italic'), on: { italic: 'off' } } },
        },
        list: {
          initial: 'none',
          states: { none: { on: { bullets: 'bullets' } }, bullets: { entry: note('bullets'), on: { none: 'none' } } },
        },
      },
    }),
    events: [send({ type: 'bold' }), send({ type: 'bullets' }), send({ type: 'italic' }), send({ type: 'bold' })],
  },
  {
    name: 'parallel-done',
    machine: trail.createMachine({
      context: { log: [] },
      initial: 'work',
      states: {
        work: {
          type: 'parallel',
          states: {
            upload: {
              initial: 'going',
              states: { going: { on: { uploaded: 'done' } }, done: { type: 'final', entry: note('uploaded') } },
            },
            scan: {
              initial: 'going',
              states: { going: { on: { scanned: 'done' } }, done: { type: 'final', entry: note('scanned') } },
            },
          },
          onDone: { target: 'finished', actions: note('all done') },
        },
        finished: { type: 'final' },
      },
      output: ({ context }) => ({ steps: context.log }),
    }),
    events: [send({ type: 'scanned' }), send({ type: 'uploaded' })],
  },
  {
    name: 'compound-done-output',
    machine: setup({
      types: { context: {} as { result: string }, events: {} as { type: 'pick'; choice: string } },
    }).createMachine({
      context: { result: '' },
      initial: 'choosing',
      states: {
        choosing: {
          initial: 'open',
          states: {
            open: { on: { pick: { target: 'picked', actions: assign({ result: ({ event }) => event.choice }) } } },
            picked: { type: 'final' },
          },
          onDone: 'closed',
        },
        closed: { type: 'final' },
      },
      output: ({ context }) => ({ picked: context.result }),
    }),
    events: [send({ type: 'pick', choice: 'blue' })],
  },
  {
    name: 'history-shallow',
    machine: trail.createMachine({
      context: { log: [] },
      initial: 'player',
      states: {
        player: {
          initial: 'stopped',
          states: {
            stopped: { on: { play: 'playing' } },
            playing: {
              entry: note('playing'),
              initial: 'normal',
              states: { normal: { on: { fast: 'fast' } }, fast: { entry: note('fast') } },
            },
            hist: { type: 'history', history: 'shallow' },
          },
          on: { menu: 'menu' },
        },
        menu: { entry: note('menu'), on: { back: 'player.hist' } },
      },
    }),
    events: [
      send({ type: 'play' }),
      send({ type: 'fast' }, { player: { playing: 'normal' } }),
      send({ type: 'menu' }, { player: { playing: 'fast' } }),
      send({ type: 'back' }, 'menu'),
    ],
  },
  {
    name: 'history-deep',
    machine: trail.createMachine({
      context: { log: [] },
      initial: 'player',
      states: {
        player: {
          initial: 'stopped',
          states: {
            stopped: { on: { play: 'playing' } },
            playing: {
              entry: note('playing'),
              initial: 'normal',
              states: { normal: { on: { fast: 'fast' } }, fast: { entry: note('fast') } },
            },
            hist: { type: 'history', history: 'deep' },
          },
          on: { menu: 'menu' },
        },
        menu: { entry: note('menu'), on: { back: 'player.hist' } },
      },
    }),
    events: [
      send({ type: 'play' }),
      send({ type: 'fast' }, { player: { playing: 'normal' } }),
      send({ type: 'menu' }, { player: { playing: 'fast' } }),
      send({ type: 'back' }, 'menu'),
    ],
  },
  {
    name: 'history-default',
    machine: trail.createMachine({
      context: { log: [] },
      initial: 'off',
      states: {
        off: { on: { on: 'panel.hist' } },
        panel: {
          initial: 'home',
          states: {
            home: { entry: note('home'), on: { settings: 'settings' } },
            settings: { entry: note('settings') },
            hist: { type: 'history', target: 'settings' },
          },
          on: { off: 'off' },
        },
      },
    }),
    events: [send({ type: 'on' })],
  },
  {
    name: 'tags-parallel',
    machine: trail.createMachine({
      context: { log: [] },
      type: 'parallel',
      states: {
        net: {
          initial: 'offline',
          states: { offline: { tags: ['degraded'], on: { connect: 'online' } }, online: { tags: ['ok'] } },
        },
        disk: { initial: 'full', states: { full: { tags: ['degraded', 'alarm'], on: { clean: 'free' } }, free: {} } },
      },
    }),
    events: [send({ type: 'connect' })],
  },
  {
    name: 'tags-final',
    machine: trail.createMachine({
      context: { log: [] },
      initial: 'busy',
      states: {
        busy: { tags: ['busy'], on: { finish: 'done' } },
        done: { type: 'final', tags: ['finished', 'archived'] },
      },
    }),
    events: [send({ type: 'finish' })],
  },
  {
    name: 'final-nested-in-parallel',
    machine: setup({
      types: { context: {} as { n: number }, events: {} as { type: 'a' } | { type: 'b' } },
    }).createMachine({
      context: { n: 0 },
      type: 'parallel',
      states: {
        left: { initial: 'x', states: { x: { on: { a: 'y' } }, y: { type: 'final' } } },
        right: { initial: 'x', states: { x: { on: { b: 'y' } }, y: { type: 'final' } } },
      },
      onDone: { actions: assign({ n: ({ context }) => context.n + 1 }) },
      output: ({ context }) => context.n,
    }),
    events: [send({ type: 'a' }), send({ type: 'b' })],
  },
];
