/**
 * The README's "Map and wait-for-condition" example: fetch every page of a list, five at a time,
 * carrying on when at least half succeed; then start an index build and poll it until it is ready
 * or ten minutes passed.
 */
import { assign, setup } from 'xstate';
import { activity, defineWorkflow } from '../../shared/engine/index.js';
import { type BatchResult, mapState, type WaitResult, waitForCondition } from '../../shared/engine/patterns/index.js';

interface Page {
  url: string;
  bytes: number;
}
interface CrawlContext {
  urls: string[];
  pages: BatchResult<Page> | undefined;
  buildId: string;
  build: WaitResult<{ ready: boolean }> | undefined;
}

const machine = setup({
  types: { context: {} as CrawlContext, input: {} as { urls: string[] } },
  actors: {
    fetchPage: activity<{ url: string }, Page>(),
    startBuild: activity<{ pages: number }, { buildId: string }>(),
    buildStatus: activity<{ buildId: string }, { ready: boolean }>(),
  },
}).createMachine({
  id: 'crawl',
  context: ({ input }) => ({ urls: input.urls, pages: undefined, buildId: '', build: undefined }),
  initial: 'fetching',
  states: {
    fetching: mapState({
      items: ({ context }) => context.urls,
      activity: 'fetchPage',
      input: ({ item }) => ({ url: item }),
      concurrency: 5,
      completion: 'all', // or 'failFast', 'firstSuccessful', { minSuccessful: 8, toleratedFailureCount: 2 }...
      resultKey: 'pages', // a BatchResult<Page>: results in item order, errors, counts
      onDone: 'building',
    }),
    building: {
      invoke: {
        src: 'startBuild',
        input: ({ context }) => ({ pages: context.pages?.counts.succeeded ?? 0 }),
        onDone: { target: 'indexing', actions: assign({ buildId: ({ event }) => event.output.buildId }) },
      },
    },
    indexing: waitForCondition({
      activity: 'buildStatus',
      input: ({ context }) => ({ buildId: context.buildId }),
      until: (status) => status.ready,
      initialIntervalMs: 1_000,
      backoffCoefficient: 2,
      maxIntervalMs: 30_000,
      deadlineMs: 10 * 60_000,
      resultKey: 'build',
      onDone: 'done',
      onTimeout: 'gaveUp',
    }),
    done: { type: 'final' },
    gaveUp: { type: 'final' },
  },
  output: ({ context }) => ({
    fetched: context.pages?.counts.succeeded ?? 0,
    failedUrls: context.pages?.failed.map((i) => context.urls[i]) ?? [],
    indexed: context.build?.status === 'satisfied',
  }),
});

export const crawl = defineWorkflow({ name: 'crawl', machine });
