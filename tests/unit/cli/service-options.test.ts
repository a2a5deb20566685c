/**
 * The options the CLI starts each service with: unset URLs mean the local defaults, the parsed
 * connection and values pass through, and SQUALL_FAULT becomes router fault hooks.
 */
import { describe, expect, it } from 'vitest';
import { parseCli } from '../../../services/cli/main.js';
import {
  executorOptionsFrom,
  routerFaultHooks,
  routerOptionsFrom,
  timerOptionsFrom,
} from '../../../services/cli/service-options.js';
import { DEFAULT_MONGO_URL, DEFAULT_NATS_URL } from '../../../services/common/options.js';
import { silentLogger } from '../../../shared/log.js';

const log = silentLogger;

describe('service options from the command line', () => {
  it('fills unset URLs with the local defaults and passes prefix and database through', () => {
    const { connection } = parseCli(['timer', '--prefix', 'p1', '--db', 'd1']);
    expect(timerOptionsFrom(connection, { log })).toEqual({
      natsUrl: DEFAULT_NATS_URL,
      mongoUrl: DEFAULT_MONGO_URL,
      prefix: 'p1',
      dbName: 'd1',
      log,
    });
  });

  it('gives the executor NATS, its activities and the concurrency only when set', () => {
    const cli = parseCli(['executor', '--activities', 'a.ts'], { NATS_URL: 'nats://n:1', SQUALL_CONCURRENCY: '3' });
    if (cli.command.kind !== 'executor') throw new Error('expected executor');
    const opts = executorOptionsFrom(cli.connection, { activities: [], log, concurrency: cli.command.concurrency });
    expect(opts).toEqual({ natsUrl: 'nats://n:1', prefix: 'squall', activities: [], log, concurrency: 3 });
    expect(executorOptionsFrom(cli.connection, { activities: [], log })).not.toHaveProperty('concurrency');
  });

  it('turns SQUALL_FAULT into the matching router hook, and adds none without it', () => {
    const cli = parseCli(['router', '--workflows', 'w.ts'], {
      MONGO_URL: 'mongodb://m:2/',
      SQUALL_FAULT: 'exit-after-publish:2',
    });
    if (cli.command.kind !== 'router') throw new Error('expected router');
    const opts = routerOptionsFrom(cli.connection, { workflows: [], log });
    expect(opts).toMatchObject({ natsUrl: DEFAULT_NATS_URL, mongoUrl: 'mongodb://m:2/', prefix: 'squall' });
    expect(opts).not.toHaveProperty('faults');
    if (!cli.command.fault) throw new Error('expected a fault');
    expect(Object.keys(routerFaultHooks(cli.command.fault, log))).toEqual(['afterPublish']);
  });

  it('passes --cache-mb and --cache-ttl-ms (or their variables) to the router as its cache bounds, nothing unset', () => {
    const flags = parseCli(['router', '--workflows', 'w.ts', '--cache-mb', '64', '--cache-ttl-ms', '60000']);
    const env = parseCli(['router', '--workflows', 'w.ts'], {
      SQUALL_ROUTER_CACHE_MB: '64',
      SQUALL_ROUTER_CACHE_TTL_MS: '60000',
    });
    for (const cli of [flags, env]) {
      if (cli.command.kind !== 'router') throw new Error('expected router');
      const { cacheMb, cacheTtlMs } = cli.command;
      expect(routerOptionsFrom(cli.connection, { workflows: [], log, cacheMb, cacheTtlMs })).toMatchObject({
        runCacheBytes: 67_108_864,
        runCacheTtlMs: 60_000,
      });
    }
    const unset = routerOptionsFrom(parseCli(['router', '--workflows', 'w.ts']).connection, { workflows: [], log });
    expect(unset).not.toHaveProperty('runCacheBytes');
    expect(unset).not.toHaveProperty('runCacheTtlMs');
    expect(() => parseCli(['router', '--workflows', 'w.ts', '--cache-mb', '0'])).toThrow(/--cache-mb/);
    expect(() => parseCli(['router', '--workflows', 'w.ts'], { SQUALL_ROUTER_CACHE_MB: 'lots' })).toThrow(
      /--cache-mb must be a positive integer, got "lots"/,
    );
  });

  it('passes --stream-replicas (or SQUALL_STREAM_REPLICAS) to every service as stream replicas, and nothing unset', () => {
    const router = parseCli(['router', '--workflows', 'w.ts', '--stream-replicas', '3']);
    if (router.command.kind !== 'router') throw new Error('expected router');
    expect(router.command.streamReplicas).toBe(3);
    expect(
      routerOptionsFrom(router.connection, { workflows: [], log, streamReplicas: router.command.streamReplicas }),
    ).toMatchObject({ streams: { replicas: 3 } });
    const timer = parseCli(['timer'], { SQUALL_STREAM_REPLICAS: '3' });
    if (timer.command.kind !== 'timer') throw new Error('expected timer');
    expect(timerOptionsFrom(timer.connection, { log, streamReplicas: timer.command.streamReplicas })).toMatchObject({
      streams: { replicas: 3 },
    });
    const executor = parseCli(['executor', '--activities', 'a.ts', '--stream-replicas', '1']);
    if (executor.command.kind !== 'executor') throw new Error('expected executor');
    expect(
      executorOptionsFrom(executor.connection, {
        activities: [],
        log,
        streamReplicas: executor.command.streamReplicas,
      }),
    ).toMatchObject({ streams: { replicas: 1 } });
    // Unset: no stream setting at all, so streams that exist keep their replicas.
    expect(timerOptionsFrom(timer.connection, { log })).not.toHaveProperty('streams');
  });

  it('refuses stream replicas outside 1..5 with a message naming the flag or variable', () => {
    const message = (argv: string[], env: Record<string, string> = {}): string => {
      try {
        parseCli(argv, env);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error(`expected a usage error for ${argv.join(' ')}`);
    };
    expect(message(['timer', '--stream-replicas', '0'])).toBe(
      'timer: --stream-replicas must be a positive integer, got "0"',
    );
    expect(message(['timer', '--stream-replicas', '7'])).toBe(
      "timer: --stream-replicas must be from 1 to 5 (JetStream's limit), got 7",
    );
    expect(message(['router', '--workflows', 'w.ts'], { SQUALL_STREAM_REPLICAS: 'three' })).toBe(
      'router: --stream-replicas must be a positive integer, got "three"',
    );
  });
});
