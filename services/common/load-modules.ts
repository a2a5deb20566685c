/**
 * Loads user modules named on the command line: workflow definitions for routers, activities for
 * executors. `.ts` and `.js` both load: a `.ts` file the runtime cannot import itself (Node 20 with
 * no tsx registered, as when the installed package runs its compiled CLI) goes through tsx's
 * scoped import. This is the one place the installed package uses tsx.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { type ActivityDefinition, defineActivity, isActivityDefinition } from '../../shared/engine/activity.js';
import { isWorkflowDefinition, type WorkflowDefinition } from '../../shared/engine/index.js';
import { ConfigError } from '../../shared/errors.js';
import { validateToken } from '../../shared/names.js';

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/**
 * Why a native import of a `.ts` module failed in ways tsx handles: no TypeScript support at all
 * (Node 20), or Node's own type stripping (Node >= 22.18) refusing what tsx accepts (`./x.js`
 * naming `./x.ts`, enums, parameter properties, `.ts` under node_modules). They come from parsing
 * and linking, before the module's code runs, so loading it again through tsx runs it once (a
 * missing module stays missing: tsx then reports the same error).
 */
const TS_RETRY_CODES: ReadonlySet<string> = new Set([
  'ERR_UNKNOWN_FILE_EXTENSION',
  'ERR_MODULE_NOT_FOUND',
  'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX',
  'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING',
]);

/**
 * Imports `modulePath` (relative to the working directory) and returns every workflow definition
 * it exports: named exports, and a default export that is a definition, an array or an object of
 * them. ConfigError when the file is missing, fails to load, or exports no definition.
 */
export async function loadWorkflows(modulePath: string): Promise<WorkflowDefinition[]> {
  const { file, exports } = await importModule(modulePath, 'workflow');
  const found = new Set<WorkflowDefinition>();
  for (const [, value] of candidates(exports)) {
    if (isWorkflowDefinition(value)) found.add(value);
    else if (Array.isArray(value)) for (const v of value) if (isWorkflowDefinition(v)) found.add(v);
  }
  if (found.size === 0) {
    throw new ConfigError(
      `${file} exports no workflow definition; export the result of defineWorkflow({ name, machine }) (exports seen: ${describeExports(exports)})`,
      { details: { module: file } },
    );
  }
  return [...found];
}

/**
 * Imports `modulePath` and returns its activities. A function export is an activity named after
 * its export name; a `defineActivity(...)` export keeps its own name and options; the default
 * export may be one of those or an object of them. ConfigError when the file is missing, fails to
 * load, exports no activity, or two different activities share a name.
 */
export async function loadActivities(modulePath: string): Promise<ActivityDefinition[]> {
  const { file, exports } = await importModule(modulePath, 'activity');
  // `explicit`: made by defineActivity (it carries options), preferred over a bare function alias.
  const byName = new Map<string, { def: ActivityDefinition; explicit: boolean }>();
  const add = (def: ActivityDefinition, explicit: boolean): void => {
    try {
      validateToken('activity', def.name);
    } catch (err) {
      throw new ConfigError(`${file}: activity name ${JSON.stringify(def.name)} is not a valid token`, {
        cause: err,
        details: { module: file },
      });
    }
    const existing = byName.get(def.name);
    if (existing && existing.def.fn !== def.fn) {
      throw new ConfigError(`${file} exports two different activities named ${JSON.stringify(def.name)}`, {
        details: { module: file, activity: def.name },
      });
    }
    if (!existing || (explicit && !existing.explicit)) byName.set(def.name, { def, explicit });
  };
  for (const [name, value] of candidates(exports)) {
    if (isActivityDefinition(value)) add(value, true);
    else if (isPlainFunction(value)) {
      const activityName = name === 'default' ? value.name : name;
      if (!activityName || activityName === 'default') {
        throw new ConfigError(`${file}: the default export is an anonymous function; name it or use defineActivity()`, {
          details: { module: file },
        });
      }
      add(asDefinition(activityName, value), false);
    }
  }
  if (byName.size === 0) {
    throw new ConfigError(
      `${file} exports no activity; export async functions or defineActivity(...) values (exports seen: ${describeExports(exports)})`,
      { details: { module: file } },
    );
  }
  return [...byName.values()].map((e) => e.def);
}

/** Resolves, checks and imports a module; every failure is a ConfigError naming the file. */
async function importModule(
  modulePath: string,
  what: 'workflow' | 'activity',
): Promise<{ file: string; exports: Record<string, unknown> }> {
  if (typeof modulePath !== 'string' || modulePath.length === 0) {
    throw new ConfigError(`no ${what} module given`);
  }
  const file = path.resolve(modulePath);
  const info = await stat(file).catch(() => undefined);
  if (!info?.isFile()) {
    throw new ConfigError(`${what} module not found: ${file}`, { details: { module: file } });
  }
  const url = pathToFileURL(file).href;
  try {
    return { file, exports: (await import(url)) as Record<string, unknown> };
  } catch (err) {
    const code = errorCode(err);
    if (TS_EXTENSIONS.has(path.extname(file)) && typeof code === 'string' && TS_RETRY_CODES.has(code)) {
      return { file, exports: await tsImportModule(url, file, what) };
    }
    throw loadFailed(file, what, err);
  }
}

async function tsImportModule(url: string, file: string, what: string): Promise<Record<string, unknown>> {
  try {
    return (await tsImport(url, import.meta.url)) as Record<string, unknown>;
  } catch (err) {
    throw loadFailed(file, what, err);
  }
}

function loadFailed(file: string, what: string, err: unknown): ConfigError {
  const reason = err instanceof Error ? err.message : String(err);
  return new ConfigError(`${what} module ${file} failed to load: ${reason}`, { cause: err, details: { module: file } });
}

/** Named exports, then the entries of an object default export (or the default itself). */
function* candidates(exports: Record<string, unknown>): Generator<[string, unknown]> {
  for (const [name, value] of Object.entries(exports)) {
    if (name !== 'default') yield [name, value];
  }
  const def = exports.default;
  if (def === undefined) return;
  if (isPlainObject(def) && !isActivityDefinition(def) && !isWorkflowDefinition(def)) {
    yield* Object.entries(def);
  } else {
    yield ['default', def];
  }
}

type AnyFn = (...args: never[]) => unknown;

function isPlainFunction(value: unknown): value is AnyFn {
  // Classes are functions too, but never activities.
  return typeof value === 'function' && !/^class[\s{]/.test(Function.prototype.toString.call(value));
}

function asDefinition(name: string, fn: AnyFn): ActivityDefinition {
  return defineActivity(name, fn as unknown as ActivityDefinition['fn']);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function describeExports(exports: Record<string, unknown>): string {
  const names = Object.keys(exports);
  return names.length === 0 ? 'none' : names.map((n) => `${n}: ${kindOf(exports[n])}`).join(', ');
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function errorCode(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}
