/**
 * The least-privilege permission sets of natsPermissions(prefix), enforced by a real nats-server:
 * each service and the client, connected as its role, run the order workflow end to end without
 * one permission violation; a client cannot publish a fake activity result nor read another
 * prefix's history or streams; an executor cannot start runs, publish completions, or touch
 * streams beyond pulling its tasks.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { natsPermissions, SQUALL_ROLES, type SquallRole } from '../../../services/common/nats-permissions.js';
import type { NatsSecurity } from '../../../shared/bus/auth.js';
import { encodeBody } from '../../../shared/bus/codec.js';
import { connect } from '../../../shared/client/index.js';
import { streamNames, subjects } from '../../../shared/names.js';
import { connectNats, freshPrefix } from '../../harness/index.js';
import { secureNatsServer } from '../../harness/secure-nats.js';
import { runOrders, startStack } from './helpers.js';

const PASSWORD = 'role-password';
const as = (user: string): NatsSecurity => ({ auth: { kind: 'user', user, password: PASSWORD } });

/** A server whose users are `admin` (everything) and one user per role of each prefix (`<role>-<prefix>`). */
async function roleServer(prefixes: string[]) {
  const users = [
    { user: 'admin', password: PASSWORD },
    ...prefixes.flatMap((prefix) => {
      const perms = natsPermissions(prefix);
      return SQUALL_ROLES.map((role) => ({ user: `${role}-${prefix}`, password: PASSWORD, permissions: perms[role] }));
    }),
  ];
  return await secureNatsServer({ authorization: { users } }, as('admin'));
}

const roles = (prefix: string): Record<SquallRole, NatsSecurity> =>
  Object.fromEntries(SQUALL_ROLES.map((r) => [r, as(`${r}-${prefix}`)])) as Record<SquallRole, NatsSecurity>;

/** The server's permission violation log lines. */
function violations(logFile: string): string[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => /violation/i.test(l));
}

describe('least-privilege permissions per role', () => {
  it('let every role do its part of the order workflow, with no violation', { timeout: 60_000 }, async () => {
    const prefix = freshPrefix();
    const server = await roleServer([prefix]);
    const stack = await startStack(server.url, roles(prefix), { prefix });
    await runOrders(stack.client, 'perm');
    // The client reads history, summaries and lists through the router API.
    expect((await stack.client.describe('perm-approved')).status).toBe('completed');
    expect((await stack.client.history('perm-approved')).commits.length).toBeGreaterThan(0);
    expect((await stack.client.list({ status: 'completed' })).runs.length).toBe(2);
    await stack.stop();
    expect(violations(server.logFile)).toEqual([]);
  });

  it('keep a client from faking an activity result and from reading another prefix', { timeout: 60_000 }, async () => {
    const prefix = freshPrefix();
    const other = freshPrefix();
    const server = await roleServer([prefix, other]);
    // The other prefix runs, with a completed run to read, as its own roles.
    const otherStack = await startStack(server.url, roles(other), { prefix: other });
    await runOrders(otherStack.client, 'secret');
    await startStack(server.url, roles(prefix), { prefix });
    // A run id nothing else publishes for, so whatever the events stream holds for it came from here.
    const runId = randomUUID();

    const nc = await connectNats(server.url, { user: `client-${prefix}`, pass: PASSWORD });
    const fake = subjects(prefix).result(runId);
    const body = encodeBody({ runId, workflowId: 'victim', activitySeq: 1, attempt: 1, ok: true, output: {} });
    await expect(jetstream(nc).publish(fake, body)).rejects.toThrow(/permission/i);
    nc.publish(fake, body);
    await nc.flush();
    const admin = await jetstreamManager(await connectNats(server.url, { user: 'admin', pass: PASSWORD }));
    await expect(admin.streams.getMessage(streamNames(prefix).events, { last_by_subj: fake })).resolves.toBeNull();

    // Another prefix's history, summaries and completions stay out of reach.
    const intruder = await connect({
      servers: server.url,
      prefix: other,
      nats: as(`client-${prefix}`),
      attempts: 1,
      requestTimeoutMs: 1_000,
    });
    await expect(intruder.describe('secret-approved')).rejects.toThrow();
    await expect(intruder.history('secret-approved')).rejects.toThrow();
    await expect(jetstream(nc).consumers.get(streamNames(other).outcomes)).rejects.toThrow(/permission/i);
    await intruder.close();
    // ... which the other prefix's own client reads fine.
    expect((await otherStack.client.describe('secret-approved')).status).toBe('completed');
    const seen = violations(server.logFile).join('\n');
    for (const subject of [fake, subjects(other).api('describe'), subjects(other).api('history')]) {
      expect(seen).toContain(`Publish Violation - Subject "${subject}"`);
    }
  });

  it('keep an executor to pulling tasks and publishing results', { timeout: 30_000 }, async () => {
    const prefix = freshPrefix();
    const server = await roleServer([prefix]);
    await (await startStack(server.url, roles(prefix), { prefix })).stop(); // the router made the streams
    const nc = await connectNats(server.url, { user: `executor-${prefix}`, pass: PASSWORD });
    const s = subjects(prefix);
    const names = streamNames(prefix);
    const js = jetstream(nc);
    await expect(js.publish(s.start('order'), encodeBody({ workflowId: 'x' }))).rejects.toThrow(/permission/i);
    await expect(js.publish(s.done('order', 'x'), encodeBody({}))).rejects.toThrow(/permission/i);
    await expect(js.publish(s.fired('r-1'), encodeBody({}))).rejects.toThrow(/permission/i);
    const jsm = await jetstreamManager(nc);
    await expect(jsm.streams.delete(names.tasks)).rejects.toThrow(/permission/i);
    await expect(jsm.consumers.add(names.inbox, { durable_name: 'peek' })).rejects.toThrow(/permission/i);
    await expect(js.consumers.get(names.outcomes)).rejects.toThrow(/permission/i);
  });
});
