/**
 * The timer service's options and their defaults, compiled once by compileTimerOptions: the only
 * place that decides what an unset option means.
 */
import type { Registry } from 'prom-client';
import type { StreamOptions } from '../../shared/bus/streams.js';
import {
  type BusConnectionOptions,
  defaultBusConnectionOptions,
  defaultServiceIdentityOptions,
  defaultStoreConnectionOptions,
  mergeOptions,
  type ServiceIdentityOptions,
  type StoreConnectionOptions,
} from '../common/options.js';
import { newServiceId } from '../common/service.js';

/** Options of startTimer: the shared connection and identity options plus the timer's own. */
export interface TimerServiceOptions extends BusConnectionOptions, StoreConnectionOptions, ServiceIdentityOptions {
  /** How long a claimed timer is this instance's to fire before another may take it. @default 30_000 */
  leaseMs: number;
  /**
   * Most timers claimed per round. A round reads whole buckets of timers (shared/store/timer-walk.ts)
   * and leases each bucket's claims with one insert, so rounds are large. @default 5_000
   */
  batchSize: number;
  /** Longest sleep between looks at the store (new timers from other instances show up by then). @default 1_000 */
  maxSleepMs: number;
  /** Ack wait of the schedule/cancel consumer every timer service shares. @default 30_000 */
  ackWaitMs: number;
  /** Stream settings when this service connects (and so ensures the streams) itself. @default undefined */
  streams?: Partial<StreamOptions> | undefined;
  /**
   * The Prometheus registry this service's metrics go in (one per service instance; the handle's
   * `metrics` is it). @default a new registry labelled `service="timer"`
   */
  metrics?: Registry | undefined;
}

/** TimerServiceOptions after compileTimerOptions: the instance id is always set. */
export type CompiledTimerOptions = TimerServiceOptions & { id: string };

/** The defaults of TimerServiceOptions. */
export function defaultTimerOptions(): TimerServiceOptions {
  return {
    ...defaultBusConnectionOptions(),
    ...defaultStoreConnectionOptions(),
    ...defaultServiceIdentityOptions(),
    leaseMs: 30_000,
    batchSize: 5_000,
    maxSleepMs: 1_000,
    ackWaitMs: 30_000,
  };
}

/**
 * Merges `given` over defaultTimerOptions. With a `bus` and no `prefix`, the prefix is the bus's
 * (so its collections match its subjects); an id is generated when none is given.
 */
export function compileTimerOptions(given: Partial<TimerServiceOptions>): CompiledTimerOptions {
  const o = mergeOptions(defaultTimerOptions(), given);
  const prefix = given.prefix ?? given.bus?.prefix ?? o.prefix;
  return { ...o, prefix, id: o.id ?? newServiceId('timer') };
}
