/**
 * The shape of a router's test-only crash points: a file of its own so the router can take
 * them (router.ts) and tests can give them (faults.ts) without the two importing each other.
 */

/**
 * Hooks called around every command publish of a decision (after its commit is stored, before
 * the input is acked), to crash a router at exactly those points.
 */
import type { Store } from '../../shared/store/types.js';

export interface RouterFaultHooks {
  /** Wraps the router's store, to crash between writes that go out side by side. */
  wrapStore?(store: Store): Store;
  /** Right after a commit was appended, before its summary write or any publish. */
  afterAppend?(commit: { runId: string; seq: number }): void;
  /** Before a command message of a stored commit is published. */
  beforePublish?(m: { msgId: string }): void;
  /** After a command message was published (acked by JetStream), before the input's ack. */
  afterPublish?(m: { msgId: string }): void;
}
