/**
 * Versioning at the router's door: a run is pinned to the version it started with, so a router
 * must hold every (workflowType, version) that open runs use. Started without one, it would
 * redeliver those runs' inputs forever; it refuses to start instead, naming what is missing.
 * Routers register the versions they hold in the store before they take up any input (and every
 * VERSION_REFRESH_MS), so the check asks only about versions some router registered and this one
 * lacks, never reading every open run (shared/store/versions.ts).
 */
import { retryWithBackoff } from '../../shared/bus/backoff.js';
import type { WorkflowRegistry } from '../../shared/engine/index.js';
import { ConfigError, toSquallError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import type { OpenRunVersion, Store, WorkflowVersionKey } from '../../shared/store/types.js';
import { VERSION_REFRESH_MS } from '../../shared/store/versions.js';

/** Every (workflowType, version) `registry` holds. */
export function registeredVersions(registry: WorkflowRegistry): WorkflowVersionKey[] {
  return registry
    .names()
    .flatMap((workflowType) => registry.versions(workflowType).map((version) => ({ workflowType, version })));
}

/**
 * Registers the router's versions (retrying passing store trouble for up to `deadlineMs`), then
 * again every VERSION_REFRESH_MS until the returned stop is called.
 */
export async function registerRouterVersions(
  store: Store,
  registry: WorkflowRegistry,
  log: Logger,
  deadlineMs = 30_000,
): Promise<() => void> {
  const keys = registeredVersions(registry);
  await retryWithBackoff(() => store.registerVersions(keys), {
    isRetryable: (err) => toSquallError(err).retryable,
    deadlineMs,
    onRetry: (err, attempt, delayMs) =>
      log.warn('registering workflow versions failed, retrying', { err, attempt, delayMs }),
  });
  const timer = setInterval(() => {
    store
      .registerVersions(keys)
      .catch((err: unknown) => log.warn('registering workflow versions failed; the next round tries again', { err }));
  }, VERSION_REFRESH_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** The versions open runs use that `registry` lacks (empty when the router can serve them all). */
export function missingVersions(open: readonly OpenRunVersion[], registry: WorkflowRegistry): OpenRunVersion[] {
  return open.filter((v) => !registry.has(v.workflowType, v.version));
}

/**
 * Throws ConfigError when open runs in `store` use a workflow version `registry` does not hold.
 * The message names each missing type and version with its number of open runs, and what is
 * registered; `details.missing` carries the same as data.
 */
export async function checkOpenRunVersions(store: Store, registry: WorkflowRegistry): Promise<void> {
  const missing = missingVersions(await store.openRunVersions(registeredVersions(registry)), registry);
  if (missing.length === 0) return;
  throw new ConfigError(missingVersionsMessage(missing, registry), { details: { missing } });
}

/** The refusal message for `missing` (exported for tests and for the router's runtime log). */
function missingVersionsMessage(missing: readonly OpenRunVersion[], registry: WorkflowRegistry): string {
  const list = missing
    .map((m) => `${m.workflowType} v${m.version} (${m.runs} open run${m.runs === 1 ? '' : 's'})`)
    .join(', ');
  const registered =
    registry
      .names()
      .map((n) => `${n} v${registry.versions(n).join(', v')}`)
      .join('; ') || 'nothing';
  return (
    `refusing to start: open runs use workflow versions this router does not register: ${list}. ` +
    `Registered: ${registered}. Keep every version that open runs use in the --workflows module ` +
    '(defineWorkflow with the old version next to the new one) until those runs close.'
  );
}
