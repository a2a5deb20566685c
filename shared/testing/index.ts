/**
 * `squall/testing`: run workflows in memory for unit tests, and replay recorded histories in CI.
 */
export { type ActivityStub, createTestRun, replayHistory, type TestRun, type TestRunOptions } from './test-run.js';
