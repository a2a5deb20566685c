/**
 * The schedule API, answered by timer services on `<prefix>.schedule.<op>` (core NATS, one queue
 * group, so each request is answered once): create, update, pause, resume, trigger, backfill,
 * delete, list and describe. Bodies are MessagePack or JSON (answered in kind); every refusal is
 * an error reply naming what was wrong.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { decodeBody } from '../../shared/bus/codec.js';
import type { Bus } from '../../shared/bus/connect.js';
import type { ScheduleDescription } from '../../shared/client/schedules.js';
import type { Clock } from '../../shared/clock.js';
import { InvalidInputError, toSquallError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import {
  type ScheduleRecord,
  type ScheduleSpec,
  ticksAfter,
  validateScheduleSpec,
} from '../../shared/schedules/index.js';
import { notFound } from '../../shared/store/schedules.js';
import type { Store } from '../../shared/store/types.js';
import { resolved, type ScheduleRunner } from './schedules.js';

/** Queue group of the timer services' request handlers. */
const TIMER_QUEUE = 'squall-timer';
/** Ticks one backfill may start. */
export const MAX_BACKFILL_TICKS = 1_000;
/** Upcoming fire times a describe lists. */
const NEXT_FIRE_TIMES = 10;
/** Largest request body accepted. */
const MAX_REQUEST_BYTES = 1_048_576;

/** What the handlers work with. */
export interface ScheduleRequestsDeps {
  bus: Bus;
  store: Store;
  runner: ScheduleRunner;
  clock: Clock;
  log: Logger;
}

type Handler = (body: Record<string, unknown>, d: ScheduleRequestsDeps) => Promise<unknown>;

const HANDLERS: Record<string, Handler> = {
  async create(b, d) {
    const id = idOf(b);
    const spec = validateScheduleSpec(id, b.spec);
    try {
      await d.store.schedules.create(id, spec, d.clock.now());
    } catch (err) {
      // A create sent again (its reply was lost) finds its own schedule: that is success.
      const there = toSquallError(err).code === 'CONFLICT' ? await d.store.schedules.get(id) : undefined;
      if (!there || !isDeepStrictEqual(there.spec, spec)) throw err;
    }
    d.runner.wake();
    return { id };
  },
  async update(b, d) {
    const rec = await existing(b, d);
    const patch = b.spec;
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
      throw new InvalidInputError(
        `schedule ${JSON.stringify(rec.id)}: update needs spec, an object of the fields to change`,
      );
    }
    // `cron` and `every` replace each other: naming one drops the other.
    const base: Partial<ScheduleSpec> = { ...rec.spec };
    if ('cron' in patch) delete base.every;
    if ('every' in patch) delete base.cron;
    const spec = validateScheduleSpec(rec.id, { ...base, ...patch });
    await d.store.schedules.updateSpec(rec.id, spec, d.clock.now());
    d.runner.wake();
    return { id: rec.id };
  },
  async pause(b, d) {
    const rec = await existing(b, d);
    await d.store.schedules.updateSpec(rec.id, { ...rec.spec, paused: true }, d.clock.now());
    return { id: rec.id, paused: true };
  },
  async resume(b, d) {
    const rec = await existing(b, d);
    // Ticks that passed while paused are not caught up: the schedule goes on from now.
    await d.store.schedules.saveState(rec.id, { ...rec.state, lastTick: d.clock.now() });
    const { paused: _p, ...spec } = rec.spec;
    await d.store.schedules.updateSpec(rec.id, spec, d.clock.now());
    d.runner.wake();
    return { id: rec.id, paused: false };
  },
  async trigger(b, d) {
    const rec = await existing(b, d);
    const tick = Math.floor(d.clock.now() / 1000) * 1000;
    const [workflowId] = await d.runner.startManual(rec, [tick], 'triggered');
    return { id: rec.id, workflowId };
  },
  async backfill(b, d) {
    const rec = await existing(b, d);
    const from = timeOf(b, 'from');
    const to = timeOf(b, 'to');
    if (to < from) throw new InvalidInputError(`backfill of ${rec.id}: to must not be before from`);
    const ticks = ticksAfter(resolved(rec.spec), from - 1, { limit: MAX_BACKFILL_TICKS + 1, until: to });
    if (ticks.length > MAX_BACKFILL_TICKS) {
      throw new InvalidInputError(
        `backfill of ${rec.id}: the range holds more than ${MAX_BACKFILL_TICKS} ticks; backfill it in parts`,
      );
    }
    return { id: rec.id, workflowIds: await d.runner.startManual(rec, ticks, 'backfilled') };
  },
  async delete(b, d) {
    return { id: idOf(b), deleted: await d.store.schedules.delete(idOf(b)) };
  },
  async list(b, d) {
    const page = await d.store.schedules.list({
      ...(typeof b.cursor === 'string' ? { cursor: b.cursor } : {}),
      ...(typeof b.limit === 'number' ? { limit: b.limit } : {}),
    });
    return { schedules: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  },
  async describe(b, d): Promise<ScheduleDescription> {
    const rec = await existing(b, d);
    const spec = resolved(rec.spec);
    const after = Math.max(d.clock.now(), rec.state.lastTick ?? 0);
    return { ...rec, nextTicks: spec.paused ? [] : ticksAfter(spec, after, { limit: NEXT_FIRE_TIMES }) };
  },
};

/** The schedule operations, in the order the docs list them. */
export const SCHEDULE_OPS = Object.keys(HANDLERS);

/** Subscribes the schedule API; returns the subscription to drain on stop. */
export function serveScheduleRequests(d: ScheduleRequestsDeps): Subscription {
  const { bus, log } = d;
  return bus.nc.subscribe(bus.subjects.all.schedule, {
    queue: TIMER_QUEUE,
    callback: (err, msg) => {
      if (err) {
        log.warn('schedule request subscription error', { err });
        return;
      }
      if (!msg.reply) return;
      answer(msg, d)
        .then((body) => bus.reply(msg, body))
        .catch((e: unknown) => {
          const error = toSquallError(e);
          if (error.code !== 'INVALID_INPUT' && error.code !== 'NOT_FOUND' && error.code !== 'CONFLICT') {
            log.warn('schedule request failed', { subject: msg.subject, err: error });
          }
          bus.reply(msg, error);
        });
    },
  });
}

async function answer(msg: Msg, d: ScheduleRequestsDeps): Promise<unknown> {
  const op = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
  const handler = HANDLERS[op];
  if (!handler) {
    throw new InvalidInputError(`unknown schedule operation ${JSON.stringify(op)}; known: ${SCHEDULE_OPS.join(', ')}`);
  }
  if (msg.data.length > MAX_REQUEST_BYTES) {
    throw new InvalidInputError(`schedule ${op} request of ${msg.data.length} bytes exceeds ${MAX_REQUEST_BYTES}`);
  }
  const body = msg.data.length === 0 ? {} : decodeBody(msg.data, msg.headers, msg.subject);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError(`schedule ${op} request: the body must be an object`);
  }
  return handler(body as Record<string, unknown>, d);
}

function idOf(b: Record<string, unknown>): string {
  if (typeof b.id !== 'string' || b.id.length === 0) {
    throw new InvalidInputError('a schedule request needs id, the schedule id (a non-empty string)');
  }
  return b.id;
}

async function existing(b: Record<string, unknown>, d: ScheduleRequestsDeps): Promise<ScheduleRecord> {
  const id = idOf(b);
  const rec = await d.store.schedules.get(id);
  if (!rec) throw notFound(id);
  return rec;
}

function timeOf(b: Record<string, unknown>, field: 'from' | 'to'): number {
  const v = b[field];
  const t = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(t) || t < 0) {
    throw new InvalidInputError(
      `backfill: ${field} must be a time (ms since the epoch, or an ISO date), got ${JSON.stringify(v)}`,
    );
  }
  return t;
}
