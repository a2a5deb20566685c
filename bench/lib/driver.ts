/**
 * Drives runs the way a user would: `client.start()` (a NATS request answered by a router) and a
 * core subscription on `<prefix>.done.<type>.*` that resolves each run's completion, timing both
 * from the moment the start request is sent.
 */
import { randomBytes } from 'node:crypto';
import type { Subscription } from '@nats-io/transport-node';
import { decodeBody } from '../../shared/bus/codec.js';
import { connect, type SquallClient } from '../../shared/client/index.js';
import { mark, RUN_DONE_MARK, RUN_START_MARK } from './trace.js';

/** One run's timings, in ms from sending its start request. */
export interface RunTiming {
  /** Start reply received (the router decided the start and stored it). */
  startedMs: number;
  /** Done message received. */
  doneMs: number;
  status: string;
}

/**
 * How a run's completion is awaited: `subscription`, the driver's own subscription on the done
 * subjects, set up before any start; `result`, `client.result(workflowId)` once `start` is
 * answered, as an application waiting on one run would.
 */
export type CompletionWait = 'subscription' | 'result';

/** A client plus one completion subscription per workflow type. */
export class Driver {
  private readonly waiters = new Map<string, (status: string) => void>();
  private readonly subs: Subscription[] = [];
  private seq = 0;
  private readonly tag = randomBytes(3).toString('hex');

  private constructor(
    readonly client: SquallClient,
    private readonly wait: CompletionWait,
  ) {}

  static async open(
    natsUrl: string,
    prefix: string,
    types: string[],
    wait: CompletionWait = 'subscription',
  ): Promise<Driver> {
    const client = await connect({ servers: natsUrl, prefix, requestTimeoutMs: 30_000, attempts: 2 });
    const d = new Driver(client, wait);
    for (const type of wait === 'subscription' ? types : []) {
      d.subs.push(
        client.nc.subscribe(`${client.subjects.prefix}.done.${type}.*`, {
          callback: (err, msg) => {
            if (err) return;
            const body = decodeBody(msg.data, msg.headers, msg.subject) as { workflowId?: string; status?: string };
            const w = body.workflowId === undefined ? undefined : d.waiters.get(body.workflowId);
            if (w) {
              mark(RUN_DONE_MARK);
              d.waiters.delete(body.workflowId as string);
              w(body.status ?? 'unknown');
            }
          },
        }),
      );
    }
    await client.nc.flush();
    return d;
  }

  /** Starts one run and resolves with its timings once its done message arrives. */
  run(type: string, input: unknown, timeoutMs = 60_000): Promise<RunTiming> {
    return this.launch(type, input, timeoutMs).done;
  }

  /** Starts one run: `started` resolves when the start is answered, `done` at its done message. */
  launch(type: string, input: unknown, timeoutMs = 60_000): { started: Promise<number>; done: Promise<RunTiming> } {
    const workflowId = `${this.tag}-${++this.seq}`;
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<string>((resolve, reject) => {
      this.waiters.set(workflowId, resolve);
      timer = setTimeout(() => {
        this.waiters.delete(workflowId);
        reject(new Error(`run ${workflowId} not done within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    finished.catch(() => undefined); // observed through `done`
    mark(RUN_START_MARK);
    const t0 = performance.now();
    const started = this.client.start(type, input, { workflowId }).then(() => {
      mark('client: start answered');
      return performance.now() - t0;
    });
    const done = (async (): Promise<RunTiming> => {
      try {
        const startedMs = await started;
        if (this.wait === 'result') {
          await this.client.result(workflowId, { timeoutMs });
          mark(RUN_DONE_MARK);
          return { startedMs, doneMs: performance.now() - t0, status: 'completed' };
        }
        const status = await finished;
        return { startedMs, doneMs: performance.now() - t0, status };
      } finally {
        clearTimeout(timer);
        this.waiters.delete(workflowId);
      }
    })();
    // Callers may await only `started`; a failure is reported through `done` as well.
    done.catch(() => undefined);
    return { started, done };
  }

  /** Runs `n` workflows with at most `concurrency` open at once; returns timings and wall time. */
  async runMany(
    type: string,
    n: number,
    concurrency: number,
    input: (i: number) => unknown,
  ): Promise<{ timings: RunTiming[]; wallMs: number; failures: string[] }> {
    const timings: RunTiming[] = [];
    const failures: string[] = [];
    let next = 0;
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        try {
          timings.push(await this.run(type, input(i)));
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
    return { timings, wallMs: performance.now() - t0, failures: failures.slice(0, 5) };
  }

  async close(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    await this.client.close();
  }
}
