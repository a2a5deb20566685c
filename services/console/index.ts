/** The console (`squall ui`): a web app and JSON API over the Squall client. See docs/console.md. */
export { type ConsoleHandle, type ConsoleOptions, DEFAULT_CONSOLE_PORT, startConsole } from './server.js';
export type { DefinitionGraph, GraphState, GraphTransition, RunPath } from './wire.js';
