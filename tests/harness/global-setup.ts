/**
 * Vitest global setup for the integration project: uses `NATS_URL` / `MONGO_URL` when set (after a
 * fast reachability check), else starts nats-server (>= 2.10, see services/dev/nats-binary.ts) and a
 * MongoDB-compatible server via services/dev.
 * Prints one line naming the servers; the returned teardown stops what it started, pass or fail.
 */
import type { TestProject } from 'vitest/node';
import {
  type LocalServer,
  probeMongo,
  probeNats,
  startMongoServer,
  startNatsServer,
} from '../../services/dev/index.js';
import { ConfigError } from '../../shared/errors.js';
import { redactUrl } from '../../shared/log.js';
import { MONGO_URL_ENV, NATS_URL_ENV } from './context.js';

const PROBE_TIMEOUT_MS = 3_000;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: LocalServer[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(started.map((s) => s.stop()));
  };
  // allSettled, not all: if one side fails, the other may still be starting and must be stopped.
  const [nats, mongo] = await Promise.allSettled([
    useOrStart('NATS_URL', 'nats-server', probeNats, startNatsServer, started),
    useOrStart('MONGO_URL', 'MongoDB', probeMongo, startMongoServer, started),
  ]);
  if (nats.status === 'rejected' || mongo.status === 'rejected') {
    await stopAll();
    throw nats.status === 'rejected' ? nats.reason : (mongo as PromiseRejectedResult).reason;
  }
  project.provide('squallNatsUrl', nats.value.url);
  project.provide('squallMongoUrl', mongo.value.url);
  process.env[NATS_URL_ENV] = nats.value.url;
  process.env[MONGO_URL_ENV] = mongo.value.url;
  console.log(`squall test harness: ${nats.value.line}, ${mongo.value.line}`);
  return stopAll;
}

interface Chosen {
  url: string;
  line: string;
}

async function useOrStart(
  variable: 'NATS_URL' | 'MONGO_URL',
  label: string,
  probe: (url: string, timeoutMs: number) => Promise<string>,
  start: () => Promise<LocalServer>,
  started: LocalServer[],
): Promise<Chosen> {
  const url = process.env[variable];
  if (url) {
    let version: string;
    try {
      version = await probe(url, PROBE_TIMEOUT_MS);
    } catch (err) {
      throw new ConfigError(
        `${variable}=${redactUrl(url)} is set but ${label} there did not answer within ${PROBE_TIMEOUT_MS} ms ` +
          `(${(err as Error).message}). Start that server, fix ${variable}, or unset it to let the harness start a local one.`,
        { cause: err },
      );
    }
    return { url, line: `${label} ${version} at ${redactUrl(url)} (from ${variable})` };
  }
  const server = await start();
  started.push(server);
  return { url: server.url, line: `${server.describe()} (started, data in ${server.dataDir})` };
}
