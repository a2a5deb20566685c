/**
 * `client.schedules`: create, change and inspect schedules (see shared/schedules/spec.ts), over
 * requests that timer services answer. Every method checks its arguments before sending.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidInputError } from '../errors.js';
import type { Subjects } from '../names.js';
import type { ScheduleRecord, ScheduleSpec } from '../schedules/index.js';
import { validateScheduleSpec } from '../schedules/index.js';
import { expectShape } from './replies.js';
import { call } from './wire.js';

/** What `describe` answers: the schedule, its progress and its next fire times. */
export interface ScheduleDescription extends ScheduleRecord {
  /** The next ticks' nominal times (ms), ascending; empty while paused. */
  nextTicks: number[];
}

/** The schedule operations of a client. */
export interface ScheduleClient {
  /** Creates a schedule; ConflictError when the id is taken by a different spec (the same spec is a no-op). */
  create(id: string, spec: ScheduleSpec): Promise<void>;
  /** Changes the given fields (`cron` and `every` replace each other). */
  update(id: string, patch: Partial<ScheduleSpec>): Promise<void>;
  /** Stops firing ticks until resume(). */
  pause(id: string): Promise<void>;
  /** Fires again from now on (ticks that passed while paused are not caught up). */
  resume(id: string): Promise<void>;
  /** Starts a run now, whatever the overlap policy; returns its workflowId. */
  trigger(id: string): Promise<string>;
  /** Starts a run for every tick in [from, to] (at most 1,000); a tick already started stays one run. */
  backfill(id: string, range: { from: number | Date; to: number | Date }): Promise<string[]>;
  /** Deletes a schedule (runs it started go on); false when there was none. */
  delete(id: string): Promise<boolean>;
  list(page?: { limit?: number; cursor?: string }): Promise<{ schedules: ScheduleRecord[]; nextCursor?: string }>;
  describe(id: string): Promise<ScheduleDescription>;
}

/** A ScheduleClient over a NATS connection. */
export function scheduleClient(
  nc: NatsConnection,
  subjects: Subjects,
  retry: () => { timeoutMs: number; attempts: number },
): ScheduleClient {
  const request = async <T>(op: string, body: Record<string, unknown>, keys: string[]): Promise<T> => {
    const subject = subjects.schedule(op);
    return expectShape<T>(await call(nc, subject, body, retry()), subject, keys);
  };
  const ms = (v: number | Date, field: string): number => {
    const t = v instanceof Date ? v.getTime() : v;
    if (!Number.isFinite(t)) throw new InvalidInputError(`backfill: ${field} must be a Date or ms since the epoch`);
    return t;
  };
  return {
    async create(id, spec) {
      validateScheduleSpec(id, spec);
      await request('create', { id, spec }, ['id']);
    },
    async update(id, patch) {
      await request('update', { id, spec: patch }, ['id']);
    },
    async pause(id) {
      await request('pause', { id }, ['id']);
    },
    async resume(id) {
      await request('resume', { id }, ['id']);
    },
    async trigger(id) {
      return (await request<{ workflowId: string }>('trigger', { id }, ['workflowId'])).workflowId;
    },
    async backfill(id, range) {
      const body = { id, from: ms(range.from, 'from'), to: ms(range.to, 'to') };
      return (await request<{ workflowIds: string[] }>('backfill', body, ['workflowIds'])).workflowIds;
    },
    async delete(id) {
      return (await request<{ deleted: boolean }>('delete', { id }, ['deleted'])).deleted;
    },
    async list(page = {}) {
      return request('list', { ...page }, ['schedules']);
    },
    async describe(id) {
      return request<ScheduleDescription>('describe', { id }, ['id', 'spec', 'state']);
    },
  };
}
