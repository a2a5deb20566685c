/**
 * The `squall` command line, parsed off the command table (commands.ts) with node:util
 * `parseArgs`: flags, positionals, and the environment, which is read here and nowhere else in
 * the CLI. Every mistake is a UsageError (exit code 2) before anything connects.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { SquallError } from '../../shared/errors.js';
import { payloadCodecsFrom } from '../../shared/payload/config.js';
import {
  COMMANDS,
  CONNECTION,
  type CommandSpec,
  NATS_SECURITY,
  PAYLOAD_CODECS,
  PROCESS,
  type Settings,
} from './commands.js';
import { type At, natsSecurityFrom, type Setting } from './settings.js';
import { type CliCommand, type CommandKind, type Env, type ParsedCli, UsageError } from './types.js';

export { SAMPLE_ACTIVITIES, SAMPLE_WORKFLOWS } from './commands.js';
export type { CliCommand, Connection, Env, ParsedCli, ReplaySource, RouterFault } from './types.js';
export { UsageError } from './types.js';

/** A flag's raw value as parseArgs gives it. */
type Raw = string | boolean | (string | boolean)[];

/** Parses argv (without node and script) and the environment; throws UsageError. */
export function parseCli(argv: readonly string[], env: Env = {}): ParsedCli {
  const [name, ...rest] = argv;
  if (name === undefined) throw new UsageError("no command given; run 'squall help'");
  const kind = name === '--help' || name === '-h' ? 'help' : name;
  if (!isCommandKind(kind)) throw new UsageError(`unknown command ${JSON.stringify(name)}; run 'squall help'`);
  // One table entry, whatever its kind: its values are checked by its own settings' kinds.
  const spec = COMMANDS[kind] as CommandSpec;
  let parsed: { values: Record<string, Raw | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...rest], options: parseArgsOptions(spec), allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${kind}: ${(err as Error).message}`);
  }
  const nats = natsSecurityFrom(readSettings('', NATS_SECURITY, parsed.values, [], env));
  const connection = { ...readSettings('', CONNECTION, parsed.values, [], env), ...(nats ? { nats } : {}) };
  const processSettings = readSettings('', PROCESS, parsed.values, [], env);
  const codecs = codecsFrom(readSettings('', PAYLOAD_CODECS, parsed.values, [], env));
  const cli = (command: CliCommand): ParsedCli => ({
    command,
    connection,
    ...processSettings,
    ...(codecs.length > 0 ? { codecs } : {}),
  });
  if (parsed.values.help === true || kind === 'help') return cli({ kind: 'help' });

  const names = positionalNames(spec);
  const given = parsed.positionals;
  if (given.length < names.length) {
    throw new UsageError(`${kind}: missing <${names[given.length]}>; usage: ${spec.synopsis}`);
  }
  if (given.length > names.length) {
    throw new UsageError(`${kind}: unexpected argument ${JSON.stringify(given[names.length])}`);
  }
  const values = readSettings(kind, spec.settings, parsed.values, given, env, spec.synopsis);
  return cli(spec.build ? spec.build(values) : ({ kind, ...values } as CliCommand));
}

/** The payload codecs asked for; a wrong key or setting is a usage error naming it (never the key). */
function codecsFrom(settings: Parameters<typeof payloadCodecsFrom>[0]): ReturnType<typeof payloadCodecsFrom> {
  try {
    return payloadCodecsFrom(settings);
  } catch (err) {
    if (err instanceof SquallError) throw new UsageError(err.message);
    throw err;
  }
}

function isCommandKind(name: string): name is CommandKind {
  return Object.hasOwn(COMMANDS, name);
}

/** The parseArgs options of a command: its own flags, the connection flags and --help. */
function parseArgsOptions(spec: CommandSpec): NonNullable<ParseArgsConfig['options']> {
  const options: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  const shared = [...Object.values(CONNECTION), ...Object.values(NATS_SECURITY), ...Object.values(PAYLOAD_CODECS)];
  for (const s of [...shared, ...Object.values(spec.settings)] as Setting<unknown>[]) {
    if (s.flag !== undefined) options[s.flag] = { type: s.kind.type, ...(s.kind.multiple ? { multiple: true } : {}) };
  }
  return options;
}

function positionalNames(spec: CommandSpec): string[] {
  return (Object.values(spec.settings) as Setting<unknown>[]).flatMap((s) =>
    s.positional === undefined ? [] : [s.positional],
  );
}

/**
 * Reads each setting in order: its flag or positional, else its environment variable (an empty
 * one counts as unset), else its default. `command` starts the messages; empty for the settings
 * every command shares.
 */
function readSettings<V>(
  command: string,
  settings: Settings<V>,
  flags: Record<string, Raw | undefined>,
  positionals: readonly string[],
  env: Env,
  synopsis = '',
): V {
  const out: Record<string, unknown> = {};
  let next = 0;
  for (const [key, s] of Object.entries(settings) as [string, Setting<unknown>][]) {
    const fromArgs =
      s.positional !== undefined ? positionals[next++] : s.flag === undefined ? undefined : flags[s.flag];
    const raw = fromArgs ?? (s.env === undefined ? undefined : env[s.env] || undefined);
    if (raw === undefined || (s.required && raw === '')) {
      if (s.required) throw new UsageError(`${command}: --${s.flag} ${s.placeholder} is required; usage: ${synopsis}`);
      if (s.default !== undefined) out[key] = s.default;
      continue;
    }
    if (s.requires && !out[s.requires.setting]) throw new UsageError(`${command}: ${s.requires.message}`);
    out[key] = parseRaw(s, raw, {
      command,
      what: s.positional !== undefined ? `<${s.positional}>` : s.flag !== undefined ? `--${s.flag}` : `${s.env}`,
      positional: s.positional !== undefined,
    });
  }
  // The keys are those of `settings`, each value of its setting's kind.
  return out as V;
}

function parseRaw<T>(s: Setting<T>, raw: Raw, at: At): T {
  const kind = s.kind;
  if (kind.type === 'boolean') return kind.parse(true, at);
  if (kind.multiple) return kind.parse((Array.isArray(raw) ? raw : [raw]).map(String), at);
  return kind.parse(String(raw), at);
}
