/**
 * Test-only crash points of a router, kept out of RouterOptions: the CLI's `SQUALL_FAULT` path
 * and tests start a router through `withRouterFaults(hooks)`; production code never sees them.
 */
import type { ServiceHandle } from '../common/service.js';
import type { RouterFaultHooks } from './fault-hooks.js';
import type { RouterOptionsInput } from './options.js';
import { launchRouter } from './router.js';

export type { RouterFaultHooks };

/** A startRouter whose routers call `hooks` at their crash points. */
export function withRouterFaults(hooks: RouterFaultHooks): (opts: RouterOptionsInput) => Promise<ServiceHandle> {
  return (opts) => launchRouter(opts, hooks);
}
