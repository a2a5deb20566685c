/**
 * Which router consumes which events partition. Routers announce themselves on a core subject
 * every heartbeat; each keeps the set it heard from within the expiry, and every partition goes to
 * the member with the highest rendezvous hash of (member, partition). Routers that hear the same
 * members agree on owners without talking further, and a member joining or leaving moves only the
 * partitions it gains or held.
 *
 * Ownership is a matter of speed, not correctness: while views differ (a join not yet heard, a
 * killed router not yet expired) a partition may have two consumers, whose appends then race as
 * they would without partitions, or none for up to the expiry, while its messages wait in the
 * stream. Optimistic concurrency on append keeps every outcome right either way.
 */
import { randomUUID } from 'node:crypto';
import type { Subscription } from '@nats-io/transport-node';
import { decodeBody } from '../../shared/bus/codec.js';
import type { Bus } from '../../shared/bus/connect.js';
import { systemClock } from '../../shared/clock.js';
import type { Logger } from '../../shared/log.js';

/** What a router announces. `hello` asks every member to announce itself at once. */
interface PresenceMessage {
  member: string;
  state: 'alive' | 'leaving';
  hello?: boolean;
}

/** Options of joinPartitions. */
export interface PartitionMembershipOptions {
  bus: Bus;
  log: Logger;
  /** Number of partitions shared out. */
  partitions: number;
  /** Called with the partitions this router holds, each time they change (first on join). */
  onChange: (owned: ReadonlySet<number>) => void;
  /** How often this router announces itself. @default 1000 */
  heartbeatMs?: number;
  /** A member not heard from for this long is gone. @default 3500 */
  expiryMs?: number;
  /** How long a joining router listens for the others before taking partitions. @default 250 */
  settleMs?: number;
  /** Clock, injected for tests. @default systemClock.now */
  now?: () => number;
}

/** A router's place among the routers. */
export interface PartitionMembership {
  /** This router's member id (unique per router instance). */
  readonly member: string;
  /** Announces the leave (the others take the partitions at once) and stops. */
  leave(): void;
}

/** Partitions each of `members` holds: rendezvous (highest random weight) hashing. */
export function assignPartitions(members: readonly string[], partitions: number): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>(members.map((m) => [m, new Set<number>()]));
  for (let p = 0; p < partitions; p++) {
    let best: string | undefined;
    let bestWeight = -1;
    for (const m of members) {
      const w = weight(m, p);
      if (w > bestWeight || (w === bestWeight && best !== undefined && m < best)) {
        best = m;
        bestWeight = w;
      }
    }
    if (best !== undefined) out.get(best)?.add(p);
  }
  return out;
}

/** A well-mixed 32-bit weight of (member, partition): FNV-1a, then a murmur3 finalizer. */
function weight(member: string, partition: number): number {
  let h = 0x811c9dc5 ^ Math.imul(partition + 1, 0x9e3779b1);
  for (let i = 0; i < member.length; i++) {
    h ^= member.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Joins the routers of the bus's prefix; resolves once the join has settled and `onChange` ran. */
export async function joinPartitions(opts: PartitionMembershipOptions): Promise<PartitionMembership> {
  const { bus, log, partitions } = opts;
  const heartbeatMs = opts.heartbeatMs ?? 1000;
  const expiryMs = opts.expiryMs ?? 3500;
  const now = opts.now ?? (() => systemClock.now());
  const member = randomUUID();
  const subject = bus.subjects.routerPresence();
  const lastHeard = new Map<string, number>([[member, now()]]);
  let owned: ReadonlySet<number> = new Set();
  let settled = false;
  let left = false;

  const announce = (state: PresenceMessage['state'], hello = false): void => {
    try {
      bus.publishCore(subject, { member, state, ...(hello ? { hello } : {}) } satisfies PresenceMessage);
    } catch (err) {
      log.debug('could not announce router presence', { err });
    }
  };
  const recompute = (): void => {
    if (!settled || left) return;
    const next = assignPartitions([...lastHeard.keys()], partitions).get(member) ?? new Set<number>();
    if (next.size === owned.size && [...next].every((p) => owned.has(p))) return;
    log.info('event partitions assigned', { members: lastHeard.size, owned: [...next].sort((a, b) => a - b) });
    owned = next;
    opts.onChange(owned);
  };

  const sub: Subscription = bus.nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err || left) return;
      let m: PresenceMessage;
      try {
        m = decodeBody(msg.data, msg.headers, msg.subject) as PresenceMessage;
      } catch (e) {
        log.debug('ignored an undecodable router presence message', { err: e });
        return;
      }
      if (typeof m?.member !== 'string' || m.member.length === 0 || (m.state !== 'alive' && m.state !== 'leaving')) {
        log.debug('ignored a router presence message without a member and a state', { subject: msg.subject });
        return;
      }
      if (m.member === member) return;
      if (m.state === 'leaving') {
        if (lastHeard.delete(m.member)) recompute();
        return;
      }
      const known = lastHeard.has(m.member);
      lastHeard.set(m.member, now());
      if (m.hello) announce('alive');
      if (!known) recompute();
    },
  });
  const beat = setInterval(() => {
    announce('alive');
    const t = now();
    lastHeard.set(member, t);
    let expired = false;
    for (const [m, at] of lastHeard) {
      if (m !== member && t - at > expiryMs) {
        lastHeard.delete(m);
        expired = true;
      }
    }
    if (expired) recompute();
  }, heartbeatMs);
  beat.unref();

  announce('alive', true);
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 250));
  settled = true;
  recompute();

  return {
    member,
    leave() {
      if (left) return;
      left = true;
      clearInterval(beat);
      announce('leaving');
      sub.unsubscribe();
    },
  };
}
