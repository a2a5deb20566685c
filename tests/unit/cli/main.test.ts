import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { errorLine, historyTable, USAGE } from '../../../services/cli/main.js';
import { NotFoundError, SquallError } from '../../../shared/errors.js';
import { runCli } from '../../harness/cli.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('main', () => {
  it('prints the usage for help and exits 0', async () => {
    const r = await runCli(['help']);
    expect(r).toEqual({ code: 0, out: [USAGE], err: [] });
  });

  it('reports a usage error as one JSON line on stderr with exit code 2', async () => {
    const r = await runCli(['signal', 'o1', 'not json']);
    expect(r.code).toBe(2);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(JSON.parse(r.err[0] as string)).toEqual({
      error: { code: 'USAGE', message: expect.stringMatching(/^signal: <event> is not valid JSON/) },
    });
  });

  it('reports a failure as one JSON line with its code and exit code 1', async () => {
    const r = await runCli(['router', '--workflows', 'no/such/module.ts']);
    expect(r.code).toBe(1);
    const line = JSON.parse(r.err[0] as string) as { error: { code: string; message: string } };
    expect(line.error.code).toBe('CONFIG');
    expect(line.error.message).toContain('workflow module not found');
  });

  it('fails a client command cleanly when NATS is unreachable', async () => {
    const r = await runCli(['query', 'o1', '--nats', 'nats://127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.err[0] as string)).toMatchObject({
      error: { code: 'UNAVAILABLE', message: expect.stringContaining('cannot connect to NATS at nats://127.0.0.1:1') },
    });
  });
});

describe('errorLine', () => {
  it('keeps code, message, details and the cause of a SquallError', () => {
    const err = new NotFoundError('no run for workflowId o1', { details: { workflowId: 'o1' }, cause: new Error('x') });
    expect(JSON.parse(errorLine(err))).toEqual({
      error: {
        code: 'NOT_FOUND',
        message: 'no run for workflowId o1',
        details: { workflowId: 'o1' },
        cause: { name: 'Error', message: 'x' },
      },
    });
  });

  it('reports anything else as INTERNAL, even when details cannot be serialised', () => {
    expect(JSON.parse(errorLine('oops'))).toEqual({ error: { code: 'INTERNAL', message: 'oops' } });
    const weird = new SquallError('INTERNAL', 'big', { details: { n: 1n } });
    expect(JSON.parse(errorLine(weird))).toMatchObject({ error: { code: 'INTERNAL' } });
  });
});

describe('historyTable', () => {
  it('prints one row per event with the seq on the first event of each commit', () => {
    const lines = historyTable([
      {
        seq: 1,
        at: 1000,
        events: [
          {
            type: 'RunStarted',
            at: 1000,
            workflowType: 'order',
            version: 1,
            workflowId: 'o1',
            runId: 'r1',
            input: { a: 1 },
          },
          { type: 'ActivityScheduled', at: 1000, activitySeq: 1, activity: 'chargeCard', invokeId: 'charge' },
        ],
      },
      { seq: 2, at: 1250, events: [{ type: 'SignalReceived', at: 1250, signal: { type: 'approve' } }] },
      { seq: 3, at: 1300, events: [{ type: 'RunCompleted', at: 1300, output: { ok: true } }] },
    ]);
    expect(lines).toEqual([
      'seq  time          +ms  event              detail',
      '1    00:00:01.000  0    RunStarted         order@1 input={"a":1}',
      '                        ActivityScheduled  #1 chargeCard',
      '2    00:00:01.250  250  SignalReceived     approve',
      '3    00:00:01.300  300  RunCompleted       output={"ok":true}',
    ]);
  });
});

describe('bin/squall.js', () => {
  const exec = promisify(execFile);
  const bin = (args: string[]) =>
    exec(process.execPath, [path.join(root, 'bin/squall.js'), ...args], { cwd: root, timeout: 20_000 }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  it('runs under plain node: help exits 0, a usage error exits 2', { timeout: 30_000 }, async () => {
    const help = await bin(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('squall router --workflows <module>');
    const bad = await bin(['start']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stderr.trim())).toMatchObject({ error: { code: 'USAGE' } });
  });

  it('loads a .ts user module (tsx is registered)', { timeout: 30_000 }, async () => {
    const r = await bin(['executor', '--activities', 'tests/unit/load-modules/fixtures/workflows.ts']);
    expect(r.code).toBe(1);
    // The module was imported and inspected, not refused for its extension.
    expect(JSON.parse(r.stderr.trim())).toMatchObject({
      error: { code: 'CONFIG', message: expect.stringMatching(/exports no activity.*greet: object/) },
    });
  });
});
