/**
 * The vocabulary of the command table (commands.ts): a setting says where a value comes from (a
 * flag, a positional, an environment variable, a default) and which kind of value it is; a kind
 * turns the raw text into a checked value or throws a UsageError whose message names the flag.
 */

import type { NatsAuth, NatsSecurity, NatsTls } from '../../shared/bus/auth.js';
import { validateSearchAttributes } from '../../shared/engine/search-attributes.js';
import { checkPriority } from '../../shared/flow/priority.js';
import type { SearchAttributes, SignalEvent } from '../../shared/history/events.js';
import { LOG_LEVELS, type LogLevel } from '../../shared/log.js';
import { type TokenKind, validatePrefix, validateToken } from '../../shared/names.js';
import { type NatsFlags, type RouterFault, UsageError } from './types.js';

/** Where a value is being read, for messages: `start: --id: ...`, `signal: <event> ...`. */
export interface At {
  /** The command's name, e.g. `start`; empty for the settings every command shares. */
  readonly command: string;
  /** The setting as the user wrote it: `--id`, `<event>`, or an environment variable's name. */
  readonly what: string;
  readonly positional: boolean;
}

/** How raw command-line text becomes one kind of value; `parse` throws UsageError. */
export type ValueKind<T> =
  | { readonly type: 'string'; readonly multiple?: false; parse(raw: string, at: At): T }
  | { readonly type: 'string'; readonly multiple: true; parse(raw: string[], at: At): T }
  | { readonly type: 'boolean'; readonly multiple?: false; parse(raw: true, at: At): T };

/**
 * One value of a command. It comes from a flag (`flag`) or the next positional (`positional`),
 * else from `env` when that variable is set and not empty, else `default`; with none of them
 * the value stays unset, or is a usage error when `required`.
 */
export interface Setting<T> {
  readonly kind: ValueKind<T>;
  /** The long flag, without dashes. */
  readonly flag?: string;
  /** The positional's name, as in `missing <workflowId>`. */
  readonly positional?: string;
  readonly env?: string;
  readonly default?: T;
  /** What the value looks like, as the help and the "is required" message show it, e.g. `<module>`. */
  readonly placeholder?: string;
  readonly required?: boolean;
  /** The default the help shows for a setting left unset, when the command (not the parser) picks it. */
  readonly helpDefault?: string;
  /** A setting that must be set (and not false) before this one may be given, with the reason. */
  readonly requires?: { readonly setting: string; readonly message: string };
}

/** Any text. */
export const text: ValueKind<string> = { type: 'string', parse: (raw) => raw };

/** A flag that is there or not. */
export const toggle: ValueKind<boolean> = { type: 'boolean', parse: () => true };

/** A positive safe integer in decimal digits. */
export const positiveInt: ValueKind<number> = { type: 'string', parse: parsePositiveInt };

/** JetStream stream replicas: 1 to 5 (JetStream's bound; more than 1 needs a NATS cluster). */
export const streamReplicas: ValueKind<number> = {
  type: 'string',
  parse(raw, at) {
    const n = parsePositiveInt(raw, at);
    if (n > 5) throw new UsageError(`${at.command}: ${at.what} must be from 1 to 5 (JetStream's limit), got ${n}`);
    return n;
  },
};

/** A run's priority: an integer from 1 (lowest) to 5 (highest), checked as the client checks it. */
export const priority: ValueKind<number> = {
  type: 'string',
  parse(raw, at) {
    const n = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
    try {
      return checkPriority(at.what, n);
    } catch (err) {
      throw new UsageError(`${at.command}: ${(err as Error).message}`);
    }
  },
};

/** A TCP port to listen on. */
export const port: ValueKind<number> = {
  type: 'string',
  parse(raw, at) {
    const n = parsePositiveInt(raw, at);
    if (n > 65_535) throw new UsageError(`${at.command}: ${at.what} must be at most 65535`);
    return n;
  },
};

/** Any JSON value. */
export const json: ValueKind<unknown> = { type: 'string', parse: parseJson };

/** A JSON object. */
export const jsonObject: ValueKind<Record<string, unknown>> = {
  type: 'string',
  parse(raw, at) {
    const value = parseJson(raw, at);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new UsageError(`${at.command}: ${at.what} must be a JSON object, got ${raw}`);
    }
    return value as Record<string, unknown>;
  },
};

/** A JSON XState event `{ "type": ..., ...data }`. */
export const event: ValueKind<SignalEvent> = {
  type: 'string',
  parse(raw, at) {
    const value = parseJson(raw, at);
    if (
      typeof value !== 'object' ||
      value === null ||
      Array.isArray(value) ||
      typeof (value as { type?: unknown }).type !== 'string'
    ) {
      throw new UsageError(
        `${at.command}: ${at.what} must be a JSON object with a string "type", e.g. '{"type":"approve"}'`,
      );
    }
    return value as SignalEvent;
  },
};

/** A workflowId, runId or workflowType, checked as the services check them. */
export function token(kind: TokenKind): ValueKind<string> {
  return {
    type: 'string',
    parse: (raw, at) => checkToken(kind, raw, at.positional ? at.command : `${at.command}: ${at.what}`),
  };
}

/** One of a fixed list of words. */
export function oneOf<const T extends string>(values: readonly T[]): ValueKind<T> {
  return {
    type: 'string',
    parse(raw, at) {
      if (!(values as readonly string[]).includes(raw)) {
        const lead = at.command === '' ? '' : `${at.command}: `;
        throw new UsageError(`${lead}${at.what} must be one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
      }
      return raw as T;
    },
  };
}

/**
 * Repeated `key=value` flags as search attributes: `42`, `-1.5` are numbers, `true`/`false`
 * booleans, anything else a string. Keys and values are checked as the router checks them.
 */
export const keyValues: ValueKind<SearchAttributes> = {
  type: 'string',
  multiple: true,
  parse(items, at) {
    const out: SearchAttributes = {};
    for (const item of items) {
      const eq = item.indexOf('=');
      if (eq <= 0) throw new UsageError(`${at.command}: ${at.what} must be key=value, got ${JSON.stringify(item)}`);
      const value = item.slice(eq + 1);
      out[item.slice(0, eq)] = /^-?\d+(\.\d+)?$/.test(value)
        ? Number(value)
        : value === 'true'
          ? true
          : value === 'false'
            ? false
            : value;
    }
    try {
      return validateSearchAttributes(out, at.what);
    } catch (err) {
      throw new UsageError(`${at.command}: ${(err as Error).message}`);
    }
  },
};

/** A comma-separated list of NATS server URLs. */
export const natsUrl: ValueKind<string> = urlList('NATS', ['nats:', 'tls:', 'ws:', 'wss:']);

/**
 * A MongoDB connection string, passed to the driver as it is. Only its scheme is checked here: a
 * replica set's string lists hosts with commas (`mongodb://u:p@db1:27017,db2:27017/?tls=true`),
 * which no URL parser reads. A message never repeats the string (it may hold a password).
 */
export const mongoUrl: ValueKind<string> = {
  type: 'string',
  parse(raw) {
    if (!/^mongodb(\+srv)?:\/\/[^/?#]+/.test(raw.trim())) {
      throw new UsageError('MongoDB URL must start with mongodb:// or mongodb+srv:// followed by a host');
    }
    return raw;
  },
};

/** The namespace of subjects, streams and collections. */
export const prefix: ValueKind<string> = {
  type: 'string',
  parse(raw) {
    try {
      return validatePrefix(raw);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  },
};

/** A MongoDB database name. */
export const dbName: ValueKind<string> = {
  type: 'string',
  parse(raw) {
    if (!/^[A-Za-z0-9_-]{1,63}$/.test(raw)) {
      throw new UsageError(`database name ${JSON.stringify(raw)} must be 1 to 63 letters, digits, '_' or '-'`);
    }
    return raw;
  },
};

/** A log level. */
export const logLevel: ValueKind<LogLevel> = oneOf(LOG_LEVELS);

/** `SQUALL_FAULT`: only the four documented forms. */
export const fault: ValueKind<RouterFault> = {
  type: 'string',
  parse(raw) {
    const m = /^(exit-after-append|exit-after-commit|exit-after-publish|exit-before-close-append):(\d+)$/.exec(raw);
    const n = Number(m?.[2]);
    if (!m || !Number.isSafeInteger(n) || n < 1) {
      throw new UsageError(
        'SQUALL_FAULT must be exit-after-append:<n>, exit-after-commit:<n>, exit-after-publish:<n> or ' +
          `exit-before-close-append:<n> (n >= 1), got ${JSON.stringify(raw)}`,
      );
    }
    return { kind: m[1] as RouterFault['kind'], n };
  },
};

/** Checks a workflowId, runId or workflowType; `where` starts the message. */
export function checkToken(kind: TokenKind, value: string, where: string): string {
  try {
    return validateToken(kind, value);
  } catch (err) {
    throw new UsageError(`${where}: ${(err as Error).message}`);
  }
}

function parsePositiveInt(raw: string, at: At): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`${at.command}: ${at.what} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function parseJson(raw: string, at: At): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new UsageError(`${at.command}: ${at.what} is not valid JSON (${(err as Error).message})`);
  }
}

function urlList(what: string, protocols: readonly string[]): ValueKind<string> {
  return {
    type: 'string',
    parse(raw) {
      for (const part of raw.split(',')) {
        let protocol: string;
        try {
          protocol = new URL(part.trim()).protocol;
        } catch {
          throw new UsageError(
            `${what} URL ${JSON.stringify(part)} is not a URL; expected e.g. ${protocols[0]}//127.0.0.1`,
          );
        }
        if (!protocols.includes(protocol)) {
          throw new UsageError(
            `${what} URL ${JSON.stringify(part)} must start with ${protocols.map((p) => `${p}//`).join(' or ')}`,
          );
        }
      }
      return raw;
    },
  };
}

/**
 * Gathers the --nats-* values into a NatsSecurity, or undefined when none is given. UsageError
 * for two kinds of credential at once, a user without a password (or the reverse), or a TLS
 * certificate without its key; the messages name flags and variables, never a value.
 */
export function natsSecurityFrom(f: NatsFlags): NatsSecurity | undefined {
  const kinds: NatsAuth[] = [];
  if (f.token !== undefined) kinds.push({ kind: 'token', token: f.token });
  if (f.user !== undefined || f.password !== undefined) {
    if (f.user === undefined || f.password === undefined) {
      throw new UsageError(
        '--nats-user (SQUALL_NATS_USER) and --nats-password (SQUALL_NATS_PASSWORD) must be given together',
      );
    }
    kinds.push({ kind: 'user', user: f.user, password: f.password });
  }
  if (f.nkeySeedFile !== undefined) kinds.push({ kind: 'nkey', seedFile: f.nkeySeedFile });
  if (f.creds !== undefined) kinds.push({ kind: 'creds', credsFile: f.creds });
  if (kinds.length > 1) {
    throw new UsageError(
      `give one kind of NATS credential, got ${kinds.map((k) => k.kind).join(' and ')} ` +
        '(--nats-token, --nats-user/--nats-password, --nats-nkey-seed, --nats-creds or their SQUALL_NATS_* variables)',
    );
  }
  if ((f.tlsCert === undefined) !== (f.tlsKey === undefined)) {
    throw new UsageError(
      '--nats-tls-cert (SQUALL_NATS_TLS_CERT) and --nats-tls-key (SQUALL_NATS_TLS_KEY) must be given together',
    );
  }
  const tls: NatsTls | undefined =
    f.tlsCa === undefined && f.tlsCert === undefined
      ? undefined
      : {
          ...(f.tlsCa === undefined ? {} : { caFile: f.tlsCa }),
          ...(f.tlsCert === undefined ? {} : { certFile: f.tlsCert, keyFile: f.tlsKey as string }),
        };
  if (kinds.length === 0 && tls === undefined) return undefined;
  return { ...(kinds[0] === undefined ? {} : { auth: kinds[0] }), ...(tls === undefined ? {} : { tls }) };
}
