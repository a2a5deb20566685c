/**
 * `squall/testing`: run workflows in memory for unit tests, and replay recorded histories in CI.
 */
export { checkReplay, parseHistoryText, type ReplayReport } from './replay-check.js';
export {
  type ActivityStub,
  type BranchTestRunOptions,
  branchTestRun,
  createTestRun,
  replayHistory,
  type SentMessage,
  type TestRun,
  type TestRunOptions,
} from './test-run.js';
export type { UndeliveredMessage } from './world.js';
