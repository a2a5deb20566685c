import { describe, expect, it } from 'vitest';
import { parseCli, SAMPLE_ACTIVITIES, SAMPLE_WORKFLOWS, UsageError } from '../../../services/cli/main.js';

/** The message of the UsageError parseCli throws for argv. */
const usage = (argv: string[], env: Record<string, string> = {}): string => {
  try {
    parseCli(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error(`expected a usage error for: ${argv.join(' ')}`);
};

describe('parseCli: services', () => {
  it('reads router --workflows, falling back to SQUALL_WORKFLOWS', () => {
    expect(parseCli(['router', '--workflows', './w.ts']).command).toEqual({ kind: 'router', workflows: './w.ts' });
    expect(parseCli(['router'], { SQUALL_WORKFLOWS: 'env.ts' }).command).toEqual({
      kind: 'router',
      workflows: 'env.ts',
    });
    expect(usage(['router'])).toBe(
      'router: --workflows <module> is required; usage: squall router --workflows <module> [--activities <module>] [--stream-replicas N] [--cache-mb N] [--cache-ttl-ms N] [--retention-ms N] [--sweep-interval-ms N] [--ack-wait-ms N] [--health-port N]',
    );
    expect(parseCli(['router', '--workflows', 'w.ts', '--activities', 'a.ts']).command).toEqual({
      kind: 'router',
      workflows: 'w.ts',
      activities: 'a.ts',
    });
  });

  it('reads --health-port (or SQUALL_HEALTH_PORT) for every service, and the test-only SQUALL_FAULT for routers', () => {
    expect(parseCli(['timer', '--health-port', '8081']).command).toEqual({ kind: 'timer', healthPort: 8081 });
    expect(parseCli(['executor', '--activities', 'a.js'], { SQUALL_HEALTH_PORT: '9000' }).command).toEqual({
      kind: 'executor',
      activities: 'a.js',
      healthPort: 9000,
    });
    expect(usage(['timer', '--health-port', '70000'])).toMatch(/at most 65535/);
    expect(usage(['timer', '--health-port', 'x'])).toMatch(/--health-port must be a positive integer/);
    expect(parseCli(['router', '--workflows', 'w.ts'], { SQUALL_FAULT: 'exit-after-commit:3' }).command).toEqual({
      kind: 'router',
      workflows: 'w.ts',
      fault: { kind: 'exit-after-commit', n: 3 },
    });
    expect(parseCli(['router', '--workflows', 'w.ts'], { SQUALL_FAULT: 'exit-after-append:2' }).command).toMatchObject({
      fault: { kind: 'exit-after-append', n: 2 },
    });
    expect(usage(['router', '--workflows', 'w.ts'], { SQUALL_FAULT: 'crash' })).toMatch(/SQUALL_FAULT must be/);
    expect(usage(['router', '--workflows', 'w.ts'], { SQUALL_FAULT: 'exit-after-append:0' })).toMatch(/n >= 1/);
  });

  it('reads executor --activities and a positive --concurrency (flag or SQUALL_CONCURRENCY)', () => {
    expect(parseCli(['executor', '--activities', 'a.js', '--concurrency', '4']).command).toEqual({
      kind: 'executor',
      activities: 'a.js',
      concurrency: 4,
    });
    expect(parseCli(['executor'], { SQUALL_ACTIVITIES: 'b.ts', SQUALL_CONCURRENCY: '2' }).command).toEqual({
      kind: 'executor',
      activities: 'b.ts',
      concurrency: 2,
    });
    expect(usage(['executor', '--activities', 'a.js', '--concurrency', '0'])).toMatch(
      /--concurrency must be a positive integer, got "0"/,
    );
    expect(usage(['executor', '--activities', 'a.js', '--concurrency', '2.5'])).toMatch(/positive integer/);
    expect(usage(['executor'])).toMatch(/--activities <module> is required/);
  });

  it('reads router --retention-ms and --sweep-interval-ms (flags or SQUALL_RETENTION_MS, SQUALL_SWEEP_INTERVAL_MS)', () => {
    expect(
      parseCli(['router', '--workflows', 'w.ts', '--retention-ms', '86400000', '--sweep-interval-ms', '5000']).command,
    ).toMatchObject({ retentionMs: 86_400_000, sweepIntervalMs: 5000 });
    expect(
      parseCli(['router', '--workflows', 'w.ts'], { SQUALL_RETENTION_MS: '1000', SQUALL_SWEEP_INTERVAL_MS: '200' })
        .command,
    ).toMatchObject({ retentionMs: 1000, sweepIntervalMs: 200 });
    expect(usage(['router', '--workflows', 'w.ts', '--retention-ms', '0'])).toMatch(
      /--retention-ms must be a positive integer/,
    );
  });

  it('reads executor --ack-wait-ms (flag or SQUALL_ACK_WAIT_MS) as a positive integer', () => {
    expect(parseCli(['executor', '--activities', 'a.js', '--ack-wait-ms', '2000']).command).toMatchObject({
      ackWaitMs: 2000,
    });
    expect(parseCli(['executor', '--activities', 'a.js'], { SQUALL_ACK_WAIT_MS: '5000' }).command).toMatchObject({
      ackWaitMs: 5000,
    });
    expect(usage(['executor', '--activities', 'a.js', '--ack-wait-ms', '0'])).toMatch(
      /--ack-wait-ms must be a positive integer/,
    );
  });

  it('reads router --ack-wait-ms (flag or SQUALL_ROUTER_ACK_WAIT_MS), apart from the executor ack wait', () => {
    expect(parseCli(['router', '--workflows', 'w.ts', '--ack-wait-ms', '3000']).command).toMatchObject({
      ackWaitMs: 3000,
    });
    const fromEnv = { SQUALL_ROUTER_ACK_WAIT_MS: '4000', SQUALL_ACK_WAIT_MS: '9000' };
    expect(parseCli(['router', '--workflows', 'w.ts'], fromEnv).command).toMatchObject({ ackWaitMs: 4000 });
    expect(usage(['router', '--workflows', 'w.ts', '--ack-wait-ms', '0'])).toMatch(
      /--ack-wait-ms must be a positive integer/,
    );
  });

  it('defaults dev to the sample modules', () => {
    expect(parseCli(['dev', '--sample']).command).toEqual({
      kind: 'dev',
      workflows: SAMPLE_WORKFLOWS,
      activities: SAMPLE_ACTIVITIES,
      sample: true,
      uiPort: 4800,
    });
    expect(parseCli(['dev', '--workflows', 'w.ts']).command).toMatchObject({ workflows: 'w.ts', sample: false });
  });

  it('takes timer with no arguments', () => {
    expect(parseCli(['timer']).command).toEqual({ kind: 'timer' });
    expect(usage(['timer', 'extra'])).toBe('timer: unexpected argument "extra"');
  });
});

describe('parseCli: client commands', () => {
  it('reads start with JSON input, id, policy, wait and timeout', () => {
    expect(
      parseCli(['start', 'order', '--input', '{"orderId":"o1","amount":5}', '--id', 'o1', '--wait', '--timeout', '500'])
        .command,
    ).toEqual({
      kind: 'start',
      workflowType: 'order',
      input: { orderId: 'o1', amount: 5 },
      workflowId: 'o1',
      wait: true,
      timeoutMs: 500,
    });
    expect(parseCli(['start', 'order', '--policy', 'rejectDuplicate']).command).toMatchObject({
      idReusePolicy: 'rejectDuplicate',
    });
    expect(parseCli(['start', 'order', '--priority', '5']).command).toMatchObject({ priority: 5 });
  });

  it('refuses bad start arguments with clear messages', () => {
    expect(usage(['start'])).toMatch(/^start: missing <workflowType>; usage: squall start <type>/);
    expect(usage(['start', 'order', '--input', '{bad'])).toMatch(/^start: --input is not valid JSON/);
    expect(usage(['start', 'order', '--id', 'a b'])).toMatch(/^start: --id: workflowId "a b" contains " "/);
    expect(usage(['start', 'or.der'])).toMatch(/workflowType "or.der" contains "."/);
    expect(usage(['start', 'order', '--timeout', '5'])).toBe('start: --timeout only applies with --wait');
    expect(usage(['start', 'order', '--policy', 'sometimes'])).toMatch(/--policy must be one of returnExisting/);
    expect(usage(['start', 'order', '--bogus'])).toMatch(/^start: Unknown option '--bogus'/);
    expect(usage(['start', 'order', '--priority', '7'])).toBe(
      'start: --priority: must be an integer from 1 (lowest) to 5 (highest), got 7',
    );
    expect(usage(['start', 'order', '--priority', 'high'])).toMatch(/--priority: .* got "high"$/);
  });

  it('reads a signal event as JSON with a string type', () => {
    expect(parseCli(['signal', 'o1', '{"type":"approve","by":"me"}']).command).toEqual({
      kind: 'signal',
      workflowId: 'o1',
      event: { type: 'approve', by: 'me' },
    });
    expect(usage(['signal', 'o1'])).toMatch(/^signal: missing <event>/);
    expect(usage(['signal', 'o1', '[1]'])).toMatch(/must be a JSON object with a string "type"/);
    expect(usage(['signal', 'o1', '{"by":"me"}'])).toMatch(/must be a JSON object with a string "type"/);
  });

  it('reads terminate like cancel', () => {
    expect(parseCli(['terminate', 'o1', '--reason', 'stuck']).command).toEqual({
      kind: 'terminate',
      workflowId: 'o1',
      reason: 'stuck',
    });
    expect(parseCli(['terminate', 'o1']).command).toEqual({ kind: 'terminate', workflowId: 'o1' });
    expect(usage(['terminate'])).toMatch(/^terminate: missing <workflowId>/);
  });

  it('reads branch, reset and resume', () => {
    expect(parseCli(['branch', 'o1', '--at', '3', '--new-id', 'o1-b', '--allow-open']).command).toEqual({
      kind: 'branch',
      workflowId: 'o1',
      atSeq: 3,
      newWorkflowId: 'o1-b',
      allowOpen: true,
    });
    expect(parseCli(['reset', 'o1', '--at', '2', '--run', 'r1']).command).toEqual({
      kind: 'reset',
      workflowId: 'o1',
      atSeq: 2,
      runId: 'r1',
    });
    expect(parseCli(['resume', 'o1']).command).toEqual({ kind: 'resume', workflowId: 'o1' });
    expect(usage(['branch', 'o1'])).toMatch(/--at/);
    expect(usage(['reset', 'o1', '--at', '0'])).toMatch(/--at/);
  });

  it('reads cancel, query, describe, history', () => {
    expect(parseCli(['cancel', 'o1', '--reason', 'changed mind']).command).toEqual({
      kind: 'cancel',
      workflowId: 'o1',
      reason: 'changed mind',
    });
    expect(parseCli(['query', 'o1']).command).toEqual({ kind: 'query', workflowId: 'o1' });
    expect(parseCli(['describe', 'o1', '--run', 'r1']).command).toEqual({
      kind: 'describe',
      workflowId: 'o1',
      runId: 'r1',
    });
    expect(parseCli(['history', 'o1']).command).toEqual({ kind: 'history', workflowId: 'o1' });
    expect(parseCli(['history', 'o1', '--from', '257', '--limit', '10']).command).toEqual({
      kind: 'history',
      workflowId: 'o1',
      fromSeq: 257,
      limit: 10,
    });
    expect(usage(['query'])).toMatch(/^query: missing <workflowId>/);
    expect(usage(['query', 'a>b'])).toMatch(/^query: workflowId "a>b" contains ">"/);
  });

  it('reads list and watch filters', () => {
    expect(parseCli(['list', '--status', 'running', '--type', 'order', '--limit', '10']).command).toEqual({
      kind: 'list',
      status: 'running',
      workflowType: 'order',
      limit: 10,
    });
    expect(usage(['list', '--status', 'done'])).toMatch(/--status must be one of running, completed/);
    expect(parseCli(['watch', '--id', 'o1']).command).toEqual({ kind: 'watch', workflowId: 'o1' });
    expect(parseCli(['watch', '--type', 'order']).command).toEqual({ kind: 'watch', workflowType: 'order' });
  });
});

describe('parseCli: connection and help', () => {
  it('takes flags over environment over defaults', () => {
    const env = { NATS_URL: 'nats://env:4222', MONGO_URL: 'mongodb://env/', SQUALL_PREFIX: 'envp', SQUALL_DB: 'envdb' };
    expect(parseCli(['query', 'o1'], env).connection).toEqual({
      natsUrl: 'nats://env:4222',
      mongoUrl: 'mongodb://env/',
      prefix: 'envp',
      dbName: 'envdb',
    });
    expect(
      parseCli(['query', 'o1', '--nats', 'nats://a:1,nats://b:2', '--prefix', 'p2', '--db', 'd2'], env).connection,
    ).toEqual({
      natsUrl: 'nats://a:1,nats://b:2',
      mongoUrl: 'mongodb://env/',
      prefix: 'p2',
      dbName: 'd2',
    });
    expect(parseCli(['query', 'o1']).connection).toEqual({ prefix: 'squall', dbName: 'squall' });
  });

  it('treats an empty URL variable as unset', () => {
    expect(parseCli(['timer'], { NATS_URL: '' }).connection.natsUrl).toBeUndefined();
  });

  it('refuses bad URLs, prefixes and database names', () => {
    expect(usage(['timer', '--nats', 'localhost:4222'])).toMatch(/NATS URL "localhost:4222" must start with nats:\/\//);
    expect(usage(['timer', '--mongo', 'http://u:pw@x'])).toBe(
      'MongoDB URL must start with mongodb:// or mongodb+srv:// followed by a host',
    );
    // A replica set's hosts are comma-separated: the string is taken as it is.
    const rs = 'mongodb://u:p@db1:27017,db2:27017/?replicaSet=rs0&tls=true';
    expect(parseCli(['timer', '--mongo', rs]).connection.mongoUrl).toBe(rs);
    expect(usage(['timer'], { SQUALL_PREFIX: 'a.b' })).toMatch(/prefix "a.b" must be 1 to 32 letters/);
    expect(usage(['timer', '--db', 'x/y'])).toMatch(/database name "x\/y"/);
  });

  it('reads SQUALL_LOG_LEVEL only when set', () => {
    expect(parseCli(['timer']).logLevel).toBeUndefined();
    expect(parseCli(['timer'], { SQUALL_LOG_LEVEL: 'debug' }).logLevel).toBe('debug');
  });

  it('recognises help in every form, and refuses an unknown or missing command', () => {
    expect(parseCli(['help']).command).toEqual({ kind: 'help' });
    expect(parseCli(['--help']).command).toEqual({ kind: 'help' });
    expect(parseCli(['start', '-h']).command).toEqual({ kind: 'help' });
    expect(usage([])).toBe("no command given; run 'squall help'");
    expect(usage(['launch'])).toBe('unknown command "launch"; run \'squall help\'');
    expect(usage(['constructor'])).toMatch(/unknown command/);
  });
});

describe('parseCli: NATS credentials and TLS', () => {
  it('reads one kind of credential and TLS files from flags or SQUALL_NATS_* variables', () => {
    expect(parseCli(['list'], { SQUALL_NATS_TOKEN: 't' }).connection.nats).toEqual({
      auth: { kind: 'token', token: 't' },
    });
    expect(parseCli(['list', '--nats-user', 'u'], { SQUALL_NATS_PASSWORD: 'p' }).connection.nats).toEqual({
      auth: { kind: 'user', user: 'u', password: 'p' },
    });
    expect(parseCli(['timer', '--nats-nkey-seed', '/s.nk']).connection.nats).toEqual({
      auth: { kind: 'nkey', seedFile: '/s.nk' },
    });
    expect(
      parseCli(['list'], {
        SQUALL_NATS_CREDS: '/u.creds',
        SQUALL_NATS_TLS_CA: '/ca.pem',
        SQUALL_NATS_TLS_CERT: '/c.pem',
        SQUALL_NATS_TLS_KEY: '/k.pem',
      }).connection.nats,
    ).toEqual({
      auth: { kind: 'creds', credsFile: '/u.creds' },
      tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' },
    });
    expect(parseCli(['list']).connection.nats).toBeUndefined();
  });

  it('refuses two kinds at once, half a user, half a client certificate, without showing values', () => {
    expect(usage(['list', '--nats-token', 'sekrit'], { SQUALL_NATS_CREDS: '/u.creds' })).toBe(
      'give one kind of NATS credential, got token and creds (--nats-token, --nats-user/--nats-password, --nats-nkey-seed, --nats-creds or their SQUALL_NATS_* variables)',
    );
    expect(usage(['list'], { SQUALL_NATS_PASSWORD: 'sekrit' })).toBe(
      '--nats-user (SQUALL_NATS_USER) and --nats-password (SQUALL_NATS_PASSWORD) must be given together',
    );
    expect(usage(['list', '--nats-tls-cert', '/c.pem'])).toBe(
      '--nats-tls-cert (SQUALL_NATS_TLS_CERT) and --nats-tls-key (SQUALL_NATS_TLS_KEY) must be given together',
    );
  });
});
