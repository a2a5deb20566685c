/**
 * Refs to stopped children kept in context. XState persists an actor ref in context as
 * `{ xstate$$type: 1, id }` and, when a snapshot is restored, revives it from the snapshot's
 * children; a child that has stopped (finished, `stopChild`, its state left) is no longer there,
 * so the ref comes back `undefined`, and XState takes `sendTo(undefined)` as a send to the machine
 * itself. Under `createActor` the ref stays a stopped actor, which drops what it is sent. So a run's
 * persisted snapshot gets a stand-in for each such ref before it is restored: sends to it are
 * dropped (actions.ts), and it persists back to the same marker.
 */

const STOPPED = Symbol.for('squall.stoppedActor');
/** XState's mark of a persisted actor ref (`$$ACTOR_TYPE`). */
const ACTOR_TYPE = 1;

/** A stopped actor of id `id`: it takes nothing (XState persists it as a ref, having `sessionId`, `send` and `ref`). */
function stoppedRef(id: unknown): object {
  return Object.freeze({
    id,
    sessionId: `squall.stopped.${String(id)}`,
    send: () => {},
    ref: undefined,
    [STOPPED]: true,
  });
}

/** True for the stand-in of a stopped child (see stoppedRef). */
export function isStoppedRef(to: unknown): boolean {
  return typeof to === 'object' && to !== null && (to as { [STOPPED]?: unknown })[STOPPED] === true;
}

/**
 * `snapshot` with every persisted ref in its context that names no child of the snapshot replaced
 * by a stopped stand-in; the same object when there is none (XState revives the others).
 */
export function withStoppedRefs(snapshot: unknown): unknown {
  if (typeof snapshot !== 'object' || snapshot === null) return snapshot;
  const s = snapshot as { context?: unknown; children?: Record<string, unknown> };
  const children = s.children ?? {};
  const context = replaceDangling(s.context, children);
  return context === s.context ? snapshot : { ...s, context };
}

function replaceDangling(part: unknown, children: Record<string, unknown>): unknown {
  if (typeof part !== 'object' || part === null) return part;
  const marker = part as { xstate$$type?: unknown; id?: unknown };
  if (marker.xstate$$type === ACTOR_TYPE) {
    return typeof marker.id === 'string' && Object.hasOwn(children, marker.id) ? part : stoppedRef(marker.id);
  }
  if (Object.getPrototypeOf(part) !== Object.prototype && !Array.isArray(part)) return part;
  let copy: Record<string, unknown> | unknown[] | undefined;
  for (const [key, value] of Object.entries(part)) {
    const next = replaceDangling(value, children);
    if (next === value) continue;
    copy ??= Array.isArray(part) ? [...part] : { ...(part as Record<string, unknown>) };
    (copy as Record<string, unknown>)[key] = next;
  }
  return copy ?? part;
}

/** True when a persisted context holds an actor ref (XState's marker) anywhere in its plain data. */
export function holdsActorRef(part: unknown): boolean {
  if (typeof part !== 'object' || part === null) return false;
  if ((part as { xstate$$type?: unknown }).xstate$$type === ACTOR_TYPE) return true;
  if (Array.isArray(part)) return part.some(holdsActorRef);
  if (Object.getPrototypeOf(part) !== Object.prototype) return false;
  for (const key in part) if (holdsActorRef((part as Record<string, unknown>)[key])) return true;
  return false;
}
