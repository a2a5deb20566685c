/**
 * A 3-node nats-server cluster with JetStream on loopback, for cluster and chaos tests: each node
 * on its own free client and route ports and temp store dir, routes to the other two, started
 * together (JetStream elects its meta leader once a quorum of nodes is up). A node can be
 * SIGKILLed and restarted on its port and store dir. Stopped after the test file at the latest.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort, type LocalServer, startNatsServer } from '../../services/dev/index.js';
import { ConfigError } from '../../shared/errors.js';
import { waitFor } from './index.js';
import { trackForFile } from './resources.js';

/** A running nats-server cluster the harness started. */
export interface NatsCluster {
  /** The nodes, in start order (`n1`, `n2`, `n3`). */
  readonly nodes: readonly LocalServer[];
  /** Every node's client URL, comma-separated, as `--nats` and `NATS_URL` take them. */
  readonly urls: string;
  /** The cluster's name in the servers' `cluster` block. */
  readonly name: string;
  /**
   * Resolves once JetStream answers on every running node, which needs an elected meta leader
   * (a leaderless cluster answers its API with "cluster not available").
   */
  waitForMetaLeader(timeoutMs?: number): Promise<void>;
  /** Stops every node and removes their store dirs. */
  stop(): Promise<void>;
}

/** Options of startNatsCluster. */
export interface NatsClusterOptions {
  /** How many nodes. @default 3 */
  size?: number;
  /** How long each node may take to accept clients and answer JetStream. @default 60_000 */
  readyTimeoutMs?: number;
}

/** The configuration of node `index` (0-based) of a cluster whose nodes route on `routePorts`. */
export function clusterNodeConfig(name: string, index: number, routePorts: readonly number[]): string {
  const config = {
    server_name: `n${index + 1}`,
    cluster: {
      name,
      listen: `127.0.0.1:${routePorts[index]}`,
      routes: routePorts.filter((_, i) => i !== index).map((p) => `nats-route://127.0.0.1:${p}`),
    },
  };
  return JSON.stringify(config, null, 2);
}

/**
 * Starts a cluster (3 nodes unless told) and waits for its JetStream meta leader. The nodes start
 * in parallel: each one's readiness probe needs JetStream, and JetStream needs a quorum.
 */
export async function startNatsCluster(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  if (!Number.isInteger(size) || size < 2) {
    throw new ConfigError(`a NATS cluster needs at least 2 nodes, got ${size}`);
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const name = `squall-test-${Math.random().toString(16).slice(2, 8)}`;
  const routePorts: number[] = [];
  while (routePorts.length < size) {
    const port = await freePort();
    if (!routePorts.includes(port)) routePorts.push(port);
  }
  const started = await Promise.allSettled(
    routePorts.map((_, i) => startNatsServer({ config: clusterNodeConfig(name, i, routePorts), readyTimeoutMs })),
  );
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  trackForFile(stop);
  const cluster: NatsCluster = {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    name,
    async waitForMetaLeader(timeoutMs = readyTimeoutMs) {
      for (const node of nodes) {
        if (node.pid === undefined) continue;
        await waitFor(`JetStream to answer on ${node.describe()} (a meta leader)`, () => jetStreamAnswers(node.url), {
          timeoutMs,
          intervalMs: 200,
        });
      }
    },
    stop,
  };
  await cluster.waitForMetaLeader();
  return cluster;
}

async function jetStreamAnswers(url: string): Promise<boolean> {
  const nc = await connect({ servers: url, reconnect: false, timeout: 2_000, name: 'squall-cluster-probe' });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 2_000 });
    await jsm.getAccountInfo();
    return true;
  } finally {
    await nc.close();
  }
}
