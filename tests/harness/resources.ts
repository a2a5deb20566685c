/** Connections and servers opened through the harness in one test file, closed after the file. */

type Cleanup = () => Promise<void>;

const cleanups: Cleanup[] = [];

/** Remembers how to release a resource; runs last-in first-out after the test file. */
export function trackForFile(cleanup: Cleanup): void {
  cleanups.push(cleanup);
}

/** Releases everything tracked so far (connections before the servers they talk to). */
export async function closeFileResources(): Promise<void> {
  const errors: unknown[] = [];
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop()!;
    try {
      await cleanup();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, 'closing test resources failed');
}
