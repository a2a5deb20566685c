/**
 * `squall check` end to end through the CLI (no server): the examples are clean (exit 0 and one
 * summary line), each one-defect fixture prints its finding lines (exit 1), and every kind of bad
 * argument is a usage error (exit 2).
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../harness/cli.js';

const FIXTURES = 'tests/fixtures/check';
const ACTIVITIES = `${FIXTURES}/activities.ts`;

describe('squall check', () => {
  it('exits 0 with one summary line on the examples', async () => {
    const order = await runCli([
      'check',
      'examples/order/workflows.ts',
      '--activities',
      'examples/order/activities.ts',
    ]);
    expect(order).toEqual({ code: 0, out: ['no findings in 1 workflow'], err: [] });
    const patterns = await runCli(['check', 'examples/patterns/workflows.ts']);
    expect(patterns).toEqual({ code: 0, out: ['no findings in 1 workflow'], err: [] });
    const many = await runCli(['check', 'tests/fixtures/workflows.ts']);
    expect(many.code).toBe(0);
    expect(many.out).toEqual([expect.stringMatching(/^no findings in \d+ workflows$/)]);
  });

  it.each([
    [
      'unreachable',
      [],
      ['unreachable@v1 orphan: unreachable: no transition path from the initial state enters this state'],
    ],
    ['no-way-out', [], [expect.stringMatching(/^noWayOut@v1 stuck: no-way-out: waits forever/)]],
    ['unhandled-event', [], ['unhandledEvent@v1 waiting: unhandled-event: raised event "ping" is handled by no state']],
    [
      'missing-activity',
      ['--activities', ACTIVITIES],
      ['missingActivity@v1 refunding: missing-activity: activity "refund" is not exported by the activities module'],
    ],
    [
      'final-without-output',
      [],
      [
        expect.stringMatching(/^finalWithoutOutput@v1 approved: ignored-output: /),
        expect.stringMatching(/^finalWithoutOutput@v1 rejected: final-without-output: /),
      ],
    ],
    [
      'undefined-delay',
      [],
      [expect.stringMatching(/^undefinedDelay@v1 waiting: undefined-delay: .*"approvalTimeout"/)],
    ],
    ['dynamic-delay', ['--strict'], [expect.stringMatching(/^dynamicDelay@v1 waiting: dynamic-delay: .*"timeout"/)]],
  ])('exits 1 and prints the finding of %s.ts', async (name, flags, lines) => {
    const r = await runCli(['check', `${FIXTURES}/${name}.ts`, ...(flags as string[])]);
    expect(r).toEqual({ code: 1, out: lines, err: [] });
  });

  it('reports run-time delays and missing activities only when asked', async () => {
    expect((await runCli(['check', `${FIXTURES}/dynamic-delay.ts`])).code).toBe(0);
    expect((await runCli(['check', `${FIXTURES}/missing-activity.ts`])).code).toBe(0);
    const strictOrder = await runCli(['check', 'examples/order/workflows.ts', '--strict']);
    expect(strictOrder.code).toBe(1);
    expect(strictOrder.out).toEqual([expect.stringMatching(/^order@v1 awaitingApproval: dynamic-delay: /)]);
  });

  it('exits 2 on bad arguments: no module, an extra argument, an unknown flag, a module that does not load', async () => {
    const cases: [string[], RegExp][] = [
      [['check'], /check: missing <workflows>/],
      [['check', 'a.ts', 'b.ts'], /unexpected argument "b.ts"/],
      [['check', 'a.ts', '--activites', 'x.ts'], /check: Unknown option '--activites'/],
      [['check', 'no/such/module.ts'], /workflow module not found/],
      [['check', 'examples/order/workflows.ts', '--activities', 'no/such/activities.ts'], /activity module not found/],
      [['check', 'examples/order/activities.ts'], /exports no workflow definition/],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.out, argv.join(' ')).toEqual([]);
      expect(r.err, argv.join(' ')).toHaveLength(1);
      const { error } = JSON.parse(r.err[0] ?? '') as { error: { code: string; message: string } };
      expect(error.message, argv.join(' ')).toMatch(message);
    }
  });
});
