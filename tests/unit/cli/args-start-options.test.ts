/** CLI flags of signal-with-start, memo and search attributes (`start --signal/--memo/--attr`, `list --where`). */
import { describe, expect, it } from 'vitest';
import { parseCli, UsageError } from '../../../services/cli/main.js';

const usage = (argv: string[]): string => {
  try {
    parseCli(argv, {});
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`expected a usage error for: ${argv.join(' ')}`);
};

describe('parseCli: start options', () => {
  it('reads --signal, --memo and repeated --attr with typed values', () => {
    const cmd = parseCli([
      'start',
      'cart',
      '--id',
      'c-1',
      '--signal',
      '{"type":"add","item":"tea"}',
      '--memo',
      '{"source":"cli"}',
      '--attr',
      'customer=c1',
      '--attr',
      'amount=42',
      '--attr',
      'vip=true',
      '--attr',
      'code=a=b',
    ]).command;
    expect(cmd).toEqual({
      kind: 'start',
      workflowType: 'cart',
      workflowId: 'c-1',
      wait: false,
      signal: { type: 'add', item: 'tea' },
      memo: { source: 'cli' },
      searchAttributes: { customer: 'c1', amount: 42, vip: true, code: 'a=b' },
    });
  });

  it('refuses --signal without --id, a bad event, a bad key and a missing =', () => {
    expect(usage(['start', 'cart', '--signal', '{"type":"add"}'])).toBe(
      'start: --signal (signal-with-start) needs --id',
    );
    expect(usage(['start', 'cart', '--id', 'x', '--signal', '[]'])).toContain('--signal must be a JSON object');
    expect(usage(['start', 'cart', '--attr', 'a.b=1'])).toContain('key "a.b" is invalid');
    expect(usage(['start', 'cart', '--attr', 'novalue'])).toBe('start: --attr must be key=value, got "novalue"');
  });

  it('reads --run-timeout-ms, --execution-timeout-ms and --retention-ms as positive integers', () => {
    const argv = ['start', 'sync', '--run-timeout-ms', '60000', '--execution-timeout-ms', '86400000'];
    expect(parseCli([...argv, '--retention-ms', '1000'], {}).command).toMatchObject({
      runTimeoutMs: 60_000,
      executionTimeoutMs: 86_400_000,
      retentionMs: 1000,
    });
    expect(usage(['start', 'sync', '--run-timeout-ms', '0'])).toContain('--run-timeout-ms must be a positive integer');
  });

  it('reads repeated list --where', () => {
    expect(parseCli(['list', '--where', 'customer=c1', '--where', 'items=2', '--status', 'running']).command).toEqual({
      kind: 'list',
      status: 'running',
      where: { customer: 'c1', items: 2 },
    });
    expect(usage(['list', '--where', '=x'])).toBe('list: --where must be key=value, got "=x"');
  });
});

describe('parseCli: callbacks', () => {
  it('reads complete-callback and fail-callback', () => {
    expect(parseCli(['complete-callback', 'cb1_x', '--output', '{"by":"ann"}']).command).toEqual({
      kind: 'complete-callback',
      token: 'cb1_x',
      output: { by: 'ann' },
    });
    expect(parseCli(['complete-callback', 'cb1_x']).command).toEqual({ kind: 'complete-callback', token: 'cb1_x' });
    expect(parseCli(['fail-callback', 'cb1_x', '--error', 'declined', '--code', 'NO']).command).toEqual({
      kind: 'fail-callback',
      token: 'cb1_x',
      error: { message: 'declined', code: 'NO' },
    });
    expect(usage(['fail-callback', 'cb1_x'])).toContain('fail-callback: --error <message> is required');
    expect(usage(['complete-callback'])).toContain('missing <token>');
    expect(parseCli(['heartbeat-callback', 'cb1_x']).command).toEqual({ kind: 'heartbeat-callback', token: 'cb1_x' });
    expect(usage(['heartbeat-callback'])).toContain('missing <token>');
  });
});
