/**
 * The set of workflow definitions a router serves. Every version stays registered, because a run
 * is pinned to the version it started with; new runs use the latest.
 */
import { ConfigError, NotFoundError } from '../errors.js';
import { isWorkflowDefinition, type WorkflowDefinition, withChildDefinitions } from './definition.js';

/** Workflow definitions by name and version. */
export class WorkflowRegistry {
  readonly #byName = new Map<string, Map<number, WorkflowDefinition>>();

  constructor(definitions: Iterable<WorkflowDefinition> = []) {
    for (const d of definitions) this.register(d);
  }

  /**
   * Adds definitions. Registering the same (name, version) again is a no-op when it wraps the
   * same machine config, and a ConfigError otherwise (two machines must not share a version).
   * The child workflows a definition defines for the machines in its `setup({ actors })` are
   * registered with it.
   */
  register(...definitions: WorkflowDefinition[]): this {
    for (const given of definitions) {
      if (!isWorkflowDefinition(given)) throw new ConfigError('register() takes definitions made by defineWorkflow()');
      for (const def of withChildDefinitions(given)) this.#add(def);
    }
    return this;
  }

  #add(def: WorkflowDefinition): void {
    let versions = this.#byName.get(def.name);
    if (!versions) {
      versions = new Map();
      this.#byName.set(def.name, versions);
    }
    const existing = versions.get(def.version);
    if (existing && existing !== def && !sameDefinition(existing, def)) {
      throw new ConfigError(
        `workflow ${def.name} version ${def.version} is already registered with a different machine; bump the version`,
        { details: { workflowType: def.name, version: def.version } },
      );
    }
    if (!existing) versions.set(def.version, def);
  }

  /** The definition of (name, version), or undefined when either is unknown. */
  get(name: string, version: number): WorkflowDefinition | undefined {
    return this.#byName.get(name)?.get(version);
  }

  /** The highest registered version of `name`, or undefined when the type is unknown. */
  latest(name: string): WorkflowDefinition | undefined {
    const top = this.versions(name).at(-1);
    return top === undefined ? undefined : this.get(name, top);
  }

  /** Like get() (or latest() without a version), but throws NotFoundError naming what is registered. */
  require(name: string, version?: number): WorkflowDefinition {
    const def = version === undefined ? this.latest(name) : this.get(name, version);
    if (def) return def;
    const known = this.versions(name);
    throw new NotFoundError(
      known.length === 0
        ? `unknown workflow type ${JSON.stringify(name)} (registered: ${this.names().join(', ') || 'none'})`
        : `workflow ${name} has no version ${version} (registered: ${known.join(', ')})`,
      { details: { workflowType: name, version } },
    );
  }

  /** True when `name` (and `version`, if given) is registered. */
  has(name: string, version?: number): boolean {
    const versions = this.#byName.get(name);
    if (!versions) return false;
    return version === undefined || versions.has(version);
  }

  /** Registered workflow types, sorted. */
  names(): string[] {
    return [...this.#byName.keys()].sort();
  }

  /** Registered versions of `name`, ascending (empty when unknown). */
  versions(name: string): number[] {
    return [...(this.#byName.get(name)?.keys() ?? [])].sort((a, b) => a - b);
  }
}

function sameDefinition(a: WorkflowDefinition, b: WorkflowDefinition): boolean {
  // provide() keeps the author's config object, so the same machine gives the same config.
  return (
    a.machine.config === b.machine.config &&
    a.deferred.length === b.deferred.length &&
    a.deferred.every((t, i) => b.deferred[i] === t)
  );
}
