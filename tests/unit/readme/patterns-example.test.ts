/** The README's "Map and wait-for-condition" example, kept true by running it. */
import { describe, expect, it } from 'vitest';
import { crawl } from '../../../examples/patterns/workflows.js';
import { nonRetryable } from '../../../shared/engine/index.js';
import { createTestRun, replayHistory } from '../../../shared/testing/index.js';

describe('README: map and wait-for-condition', () => {
  it('fetches pages five at a time, then polls the build until ready', async () => {
    const urls = Array.from({ length: 12 }, (_, i) => `https://example.com/${i}`);
    let polls = 0;
    const run = await createTestRun(crawl, {
      input: { urls },
      activities: {
        fetchPage: ({ url }: { url: string }) =>
          url.endsWith('/7') ? nonRetryable(new Error('404')) : { url, bytes: url.length },
        startBuild: { buildId: 'b-1' },
        buildStatus: () => ({ ready: ++polls === 3 }),
      },
    });
    await run.runToEnd();
    expect(run.output).toEqual({ fetched: 11, failedUrls: ['https://example.com/7'], indexed: true });
    expect(run.now).toBe(3_000); // polls at 0 s, 1 s and 3 s
    expect(replayHistory(crawl, run.history)).toEqual(run.state);

    const stuck = await createTestRun(crawl, {
      input: { urls: [] },
      activities: { startBuild: { buildId: 'b-2' }, buildStatus: { ready: false } },
    });
    await stuck.runToEnd();
    expect(stuck.value).toBe('gaveUp');
    expect(stuck.now).toBe(600_000);
  });
});
