/**
 * The services of the `scale` scenario, in this process: a router holding the bench workflows and
 * `hold`, an executor for noop3's activities, and the timer service. The router's start is timed
 * on its own: it is one of the scenario's measures.
 */
import type { ServiceHandle } from '../../services/common/service.js';
import { startExecutor } from '../../services/executor/executor.js';
import { startRouter } from '../../services/router/router.js';
import { startTimer } from '../../services/timer/timer.js';
import type { ActivityDefinition } from '../../shared/engine/activity.js';
import * as activities from '../activities.js';
import { benchLogger } from '../lib/trace.js';
import { noop3, sleep1 } from '../workflows.js';
import { hold } from './scale-fill.js';

/** The running services, and how long startRouter took to resolve. */
export interface ScaleEngine {
  routerStartMs: number;
  stop(): Promise<void>;
}

/** Starts router, executor and timer service on `t`; resolves once all three consume. */
export async function startScaleEngine(t: {
  natsUrl: string;
  mongoUrl: string;
  prefix: string;
  dbName: string;
}): Promise<ScaleEngine> {
  const handles: ServiceHandle[] = [];
  const stop = async (): Promise<void> => {
    await Promise.allSettled(handles.map((h) => h.stop()));
  };
  try {
    const common = { natsUrl: t.natsUrl, prefix: t.prefix, log: benchLogger() };
    const t0 = performance.now();
    handles.push(
      await startRouter({ ...common, mongoUrl: t.mongoUrl, dbName: t.dbName, workflows: [noop3, sleep1, hold] }),
    );
    const routerStartMs = performance.now() - t0;
    handles.push(
      await startExecutor({
        ...common,
        activities: Object.values(activities) as ActivityDefinition[],
        concurrency: 64,
      }),
    );
    handles.push(await startTimer({ ...common, mongoUrl: t.mongoUrl, dbName: t.dbName }));
    return { routerStartMs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
