/**
 * What global setup hands to test workers: the shared server URLs, by vitest `provide`/`inject`
 * and by environment variables (which child processes spawned by tests inherit).
 */

/** Environment variable holding the shared NATS URL inside test workers and their children. */
export const NATS_URL_ENV = 'SQUALL_TEST_NATS_URL';
/** Environment variable holding the shared MongoDB URL inside test workers and their children. */
export const MONGO_URL_ENV = 'SQUALL_TEST_MONGO_URL';

declare module 'vitest' {
  export interface ProvidedContext {
    squallNatsUrl: string;
    squallMongoUrl: string;
  }
}
