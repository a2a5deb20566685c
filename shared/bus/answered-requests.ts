/**
 * No Error built for a request that already has its reply. nats.js (@nats-io/nats-core 3.x)
 * ends every answered request with `cancel()`, which rejects the request's promise, already
 * resolved, with a `new RequestError('cancelled')`: an Error and its stack trace per request,
 * thrown away unseen. Every JetStream publish is such a request, so this cost 2.7% of a busy
 * service's CPU in the profile (bench/profile-summary.ts), more than the rest of the executor.
 *
 * Here the answered request's `cancel()` is handed one error built once instead: the rejection
 * is a no-op either way, and a request cancelled before its reply (a timeout, a closed
 * connection) still gets its own error. This patches the request class of nats.js, an internal,
 * reached through the first request a connection makes; when that shape is not found, nothing
 * changes.
 */
import type { NatsConnection } from '@nats-io/transport-node';

/** The parts of nats.js's RequestOne the patch uses. */
interface RequestShape {
  resolver(err: Error | null, msg: unknown): void;
  cancel(err?: Error): void;
}

/** The parts of nats.js's MuxSubscription (one per connection) the patch uses. */
interface MuxShape {
  add(r: object): void;
}

const answered = Symbol('squall.answered');
/** What an answered request's no-op rejection carries: one error for all of them. */
const ALREADY_ANSWERED = new Error('request already answered');
const patched = new WeakSet<object>();

function isRequestClass(proto: unknown): proto is RequestShape {
  if (typeof proto !== 'object' || proto === null) return false;
  const p = proto as Partial<Record<keyof RequestShape | 'constructor', unknown>>;
  return (
    typeof p.resolver === 'function' &&
    typeof p.cancel === 'function' &&
    (p.constructor as { name?: unknown } | undefined)?.name === 'RequestOne'
  );
}

/** Patches nats.js's request class once (see the module comment); false when it is not the one it knows. */
export function patchRequestClass(proto: unknown): boolean {
  if (!isRequestClass(proto)) return false;
  if (patched.has(proto)) return true;
  patched.add(proto);
  const { resolver, cancel } = proto;
  proto.resolver = function (this: RequestShape & { [answered]?: true }, err, msg) {
    // resolver settles the request's promise, then calls cancel() to let go of it.
    this[answered] = true;
    resolver.call(this, err, msg);
  };
  proto.cancel = function (this: RequestShape & { [answered]?: true }, err) {
    cancel.call(this, err ?? (this[answered] ? ALREADY_ANSWERED : undefined));
  };
  return true;
}

/**
 * Makes the requests of `nc` (and of every connection of the same nats.js) skip the Error an
 * answered request builds (see the module comment). Returns false, changing nothing, when the
 * connection is not the nats.js implementation it knows.
 */
export function quietAnsweredRequests(nc: NatsConnection): boolean {
  const mux = (nc as unknown as { protocol?: { muxSubscriptions?: Partial<MuxShape> } }).protocol?.muxSubscriptions;
  if (typeof mux?.add !== 'function') return false;
  const add = mux.add;
  // The class is reached through the connection's first one-reply request; then `add` is nats.js's again.
  mux.add = function (this: MuxShape, r: object) {
    if (patchRequestClass(Object.getPrototypeOf(r))) mux.add = add;
    add.call(this, r);
  };
  return true;
}

/** True once the request class of `proto` (a request's prototype) is patched. */
export function isRequestClassPatched(proto: unknown): boolean {
  return typeof proto === 'object' && proto !== null && patched.has(proto);
}
