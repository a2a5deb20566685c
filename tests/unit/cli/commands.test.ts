/**
 * The command table is the one source of flags, environment variables and help: every flag a
 * command takes is in its synopsis, every variable is in `squall help`, and the environment is
 * read by the parser only (an empty variable counts as unset; a bad one is a usage error).
 */
import { describe, expect, it } from 'vitest';
import { COMMANDS, CONNECTION, PROCESS } from '../../../services/cli/commands.js';
import { parseCli, USAGE, UsageError } from '../../../services/cli/main.js';
import type { Setting } from '../../../services/cli/settings.js';
import { createLogger } from '../../../shared/log.js';

const usage = (argv: string[], env: Record<string, string> = {}): string => {
  try {
    parseCli(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`expected a usage error for: ${argv.join(' ')}`);
};

const settingsOf = (settings: object): Setting<unknown>[] => Object.values(settings) as Setting<unknown>[];

describe('the command table', () => {
  it('shows every flag and positional of a command in its synopsis, and every command in the help', () => {
    for (const [name, spec] of Object.entries(COMMANDS)) {
      expect(spec.synopsis.startsWith(`squall ${name}`), name).toBe(true);
      expect(USAGE).toContain(`  ${spec.synopsis}\n`);
      const settings = settingsOf(spec.settings);
      for (const s of settings) {
        if (s.flag !== undefined) expect(spec.synopsis, `${name} --${s.flag}`).toContain(`--${s.flag}`);
      }
      // Positionals are the <...> left once the optional [...] parts and the `--flag value` pairs are gone.
      const shown =
        spec.synopsis
          .replace(/\[.*\]/g, '')
          .replace(/--\S+ \S+/g, '')
          .match(/<[^>]+>/g) ?? [];
      expect(shown.length, name).toBe(settings.filter((s) => s.positional !== undefined).length);
    }
  });

  it('names every environment variable it reads in the help', () => {
    const all = [
      ...Object.values(COMMANDS).flatMap((spec) => settingsOf(spec.settings)),
      ...settingsOf(CONNECTION),
      ...settingsOf(PROCESS),
    ];
    const vars = new Set(all.flatMap((s) => (s.env === undefined ? [] : [s.env])));
    // SQUALL_FAULT is test-only on purpose: documented in the code, not offered to users.
    vars.delete('SQUALL_FAULT');
    expect(vars.size).toBeGreaterThan(8);
    for (const name of vars) expect(USAGE, name).toContain(name);
  });
});

describe('parseCli: environment', () => {
  it('treats every empty variable as unset', () => {
    const empty = {
      NATS_URL: '',
      MONGO_URL: '',
      SQUALL_PREFIX: '',
      SQUALL_DB: '',
      SQUALL_CONCURRENCY: '',
      SQUALL_HEALTH_PORT: '',
      SQUALL_LOG_LEVEL: '',
      SQUALL_FAULT: '',
      SQUALL_ENCRYPTION_KEYS: '',
      SQUALL_ENCRYPTION_KEY_FILE: '',
      SQUALL_COMPRESSION: '',
    };
    expect(parseCli(['executor', '--activities', 'a.ts'], empty)).toEqual({
      command: { kind: 'executor', activities: 'a.ts' },
      connection: { prefix: 'squall', dbName: 'squall' },
    });
    expect(usage(['router'], { SQUALL_WORKFLOWS: '' })).toMatch(/^router: --workflows <module> is required/);
  });

  it('lets a flag win over its variable, even an empty flag', () => {
    expect(
      parseCli(['executor', '--activities', 'a.ts', '--concurrency', '3'], { SQUALL_CONCURRENCY: 'x' }).command,
    ).toMatchObject({ concurrency: 3 });
    expect(usage(['router', '--workflows', ''], { SQUALL_WORKFLOWS: 'w.ts' })).toMatch(
      /--workflows <module> is required/,
    );
    expect(usage(['query', 'o1', '--nats', ''], { NATS_URL: 'nats://a:1' })).toMatch(/NATS URL "" is not a URL/);
  });

  it('refuses an unknown SQUALL_LOG_LEVEL instead of logging at some other level', () => {
    expect(usage(['timer'], { SQUALL_LOG_LEVEL: 'verbose' })).toBe(
      'SQUALL_LOG_LEVEL must be one of debug, info, warn, error, got "verbose"',
    );
    expect(parseCli(['help'], { SQUALL_LOG_LEVEL: 'warn' }).logLevel).toBe('warn');
  });

  it('reports a bad variable under the flag it stands in for', () => {
    expect(usage(['executor', '--activities', 'a.ts'], { SQUALL_CONCURRENCY: 'many' })).toBe(
      'executor: --concurrency must be a positive integer, got "many"',
    );
    expect(usage(['timer'], { SQUALL_HEALTH_PORT: '99999' })).toBe('timer: --health-port must be at most 65535');
  });

  it('needs a JSON object for --memo', () => {
    expect(usage(['start', 'order', '--memo', '3'])).toBe('start: --memo must be a JSON object, got 3');
    expect(parseCli(['start', 'order', '--memo', '{"a":1}']).command).toMatchObject({ memo: { a: 1 } });
  });
});

describe('createLogger', () => {
  it('logs at info unless given a level, whatever SQUALL_LOG_LEVEL says', () => {
    const before = process.env.SQUALL_LOG_LEVEL;
    process.env.SQUALL_LOG_LEVEL = 'error';
    try {
      const lines: string[] = [];
      const log = createLogger({ sink: (line) => lines.push(line) });
      log.debug('dropped');
      log.info('kept');
      createLogger({ sink: (line) => lines.push(line), level: 'debug' }).debug('asked for');
      expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['kept', 'asked for']);
    } finally {
      if (before === undefined) delete process.env.SQUALL_LOG_LEVEL;
      else process.env.SQUALL_LOG_LEVEL = before;
    }
  });
});
