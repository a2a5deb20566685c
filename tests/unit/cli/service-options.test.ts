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
});
