/**
 * Test-only crash points of a router, kept out of RouterOptions: the CLI's `SQUALL_FAULT` path
 * and tests start a router through `withRouterFaults(hooks)`; production code never sees them.
 */
import type { ServiceHandle } from '../common/service.js';
import type { RouterOptionsInput } from './options.js';
import { launchRouter } from './router.js';

/**
 * Hooks called around every command publish of a decision (after its commit is stored, before
 * the input is acked), to crash a router at exactly those points.
 */
export interface RouterFaultHooks {
  /** Right after a commit was appended, before its summary write or any publish. */
  afterAppend?(commit: { runId: string; seq: number }): void;
  /** Before a command message of a stored commit is published. */
  beforePublish?(m: { msgId: string }): void;
  /** After a command message was published (acked by JetStream), before the input's ack. */
  afterPublish?(m: { msgId: string }): void;
}

/** A startRouter whose routers call `hooks` at their crash points. */
export function withRouterFaults(hooks: RouterFaultHooks): (opts: RouterOptionsInput) => Promise<ServiceHandle> {
  return (opts) => launchRouter(opts, hooks);
}
