/**
 * The text of `squall help`, read off the command table (commands.ts) so a command, a flag or an
 * environment variable cannot be added without showing up here.
 */
import { COMMANDS, CONNECTION, type CommandSpec, NATS_SECURITY } from './commands.js';
import { SHUTDOWN_DEADLINE_MS } from './serve.js';
import type { Setting } from './settings.js';

/** The usage text of `squall help`. */
export const USAGE: string = [
  'squall: durable workflows as XState statecharts (NATS JetStream + MongoDB)',
  '',
  `Services (run until SIGTERM/SIGINT, then finish in-flight work for up to ${SHUTDOWN_DEADLINE_MS / 1000} s):`,
  ...section('services'),
  '',
  'Runs (JSON output, one object per line):',
  ...section('runs'),
  '',
  'Definitions (no server needed; plain text):',
  ...section('definitions'),
  '',
  'Connection (flags override the environment):',
  ...(Object.values(CONNECTION) as Setting<unknown>[]).map(
    (s) =>
      `  ${`--${s.flag} ${s.placeholder}`.padEnd(16)}${(s.env ?? '').padEnd(15)}default ${s.helpDefault ?? s.default}`,
  ),
  'NATS credentials and TLS (one kind of credential; see docs/security.md):',
  ...(Object.values(NATS_SECURITY) as Setting<unknown>[]).map(
    (s) => `  ${`--${s.flag} ${s.placeholder}`.padEnd(26)}${s.env ?? ''}`,
  ),
  'Credentials are never printed; logs name the auth kind only. A tls:// URL asks for TLS.',
  'Payload codecs (every process of a deployment alike; see docs/security.md#payload-encryption):',
  '  --encryption-key-file <file>  SQUALL_ENCRYPTION_KEY_FILE  (or SQUALL_ENCRYPTION_KEYS=<id>:<base64>,...)',
  '  --compression deflate|none    SQUALL_COMPRESSION',
  'Also: SQUALL_WORKFLOWS, SQUALL_ACTIVITIES, SQUALL_CONCURRENCY, SQUALL_ACK_WAIT_MS,',
  'SQUALL_STREAM_REPLICAS, SQUALL_ROUTER_CACHE_MB, SQUALL_ROUTER_CACHE_TTL_MS, SQUALL_RETENTION_MS,',
  'SQUALL_SWEEP_INTERVAL_MS and SQUALL_ROUTER_ACK_WAIT_MS stand in for the service flags; with',
  'several NATS URLs (--nats nats://a,nats://b) clients reconnect to any.',
  "SQUALL_LOG_LEVEL (debug|info|warn|error) sets the services' log level (logs go to stderr).",
  "SQUALL_UI_PORT and SQUALL_UI_HOST stand in for ui's --port and --host (the port also for dev's --ui-port).",
  'Health: every service answers on NATS (<prefix>.health.<service>); with --health-port N',
  '(SQUALL_HEALTH_PORT) it also serves GET /healthz (live) and /readyz (connected and consuming).',
  '',
  'Exit codes: 0 ok; 1 error, reported as one JSON line on stderr {"error":{"code","message"}};',
  '2 usage error.',
].join('\n');

/** Each command of a section: its synopsis, then its help lines indented under it. */
function section(name: CommandSpec['section']): string[] {
  return (Object.values(COMMANDS) as CommandSpec[])
    .filter((spec) => spec.section === name)
    .flatMap((spec) => [`  ${spec.synopsis}`, ...spec.help.map((line) => `      ${line}`)]);
}
