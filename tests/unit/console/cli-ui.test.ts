import { describe, expect, it } from 'vitest';
import { parseCli, UsageError } from '../../../services/cli/args.js';
import { USAGE } from '../../../services/cli/usage.js';

function usage(argv: string[], env = {}): string {
  try {
    parseCli(argv, env);
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
  throw new Error('expected a UsageError');
}

describe('squall ui', () => {
  it('binds 127.0.0.1:4800 unless told otherwise', () => {
    expect(parseCli(['ui']).command).toEqual({ kind: 'ui', port: 4800, host: '127.0.0.1' });
    expect(parseCli(['ui', '--port', '9000', '--host', '0.0.0.0']).command).toEqual({
      kind: 'ui',
      port: 9000,
      host: '0.0.0.0',
    });
    expect(parseCli(['ui'], { SQUALL_UI_PORT: '7000', SQUALL_UI_HOST: '::1' }).command).toEqual({
      kind: 'ui',
      port: 7000,
      host: '::1',
    });
  });

  it('refuses a bad port or a stray argument, naming it', () => {
    expect(usage(['ui', '--port', '70000'])).toBe('ui: --port must be at most 65535');
    expect(usage(['ui', '--port', 'http'])).toMatch(/--port must be a positive integer, got "http"/);
    expect(usage(['ui', 'extra'])).toBe('ui: unexpected argument "extra"');
  });

  it('is started by dev on --ui-port, and listed in the help', () => {
    expect(parseCli(['dev', '--ui-port', '4900']).command).toMatchObject({ kind: 'dev', uiPort: 4900 });
    expect(USAGE).toContain('squall ui [--port N] [--host <addr>]');
  });
});
