/**
 * How a Squall process proves who it is to NATS and secures the connection: one credential kind
 * (token, user and password, NKey seed, `.creds` file) and TLS (a CA, optionally a client
 * certificate for mutual TLS). The same shape is taken by connectBus, the client and every
 * service. Secrets never leave this module in readable form: logs and errors name the servers by
 * host:port and the credential by its kind only.
 */
import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  type NodeConnectionOptions,
  errors as natsErrors,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import { ConfigError, type SquallError } from '../errors.js';
import { redactUrl } from '../log.js';

/** One way of authenticating to NATS; `kind` is what logs and errors show. */
export type NatsAuth =
  /** A shared token (`authorization { token: ... }` on the server). */
  | { kind: 'token'; token: string }
  /** A user and password (`authorization { users: [...] }`). */
  | { kind: 'user'; user: string; password: string }
  /** An NKey seed (`SU...`), given as text or as a file holding it; the server knows the public key. */
  | { kind: 'nkey'; seed: string }
  | { kind: 'nkey'; seedFile: string }
  /** A `.creds` file (user JWT and NKey seed) of a server in operator/JWT mode, as a path or its text. */
  | { kind: 'creds'; credsFile: string }
  | { kind: 'creds'; creds: string };

/** The kinds of NatsAuth. */
export type NatsAuthKind = NatsAuth['kind'];

/** TLS towards NATS. An empty object asks for TLS verified against the system's CAs. */
export interface NatsTls {
  /** PEM file of the CA(s) the server's certificate must chain to. @default the system CAs */
  caFile?: string;
  /** PEM client certificate, for servers that verify clients (mutual TLS); needs `keyFile`. */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
}

/** Credentials and TLS for one NATS connection; both optional (none: plain, anonymous). */
export interface NatsSecurity {
  /** @default undefined (no credentials, or those in the URL) */
  auth?: NatsAuth | undefined;
  /** @default undefined (TLS only when the server requires it or the URL is `tls://`) */
  tls?: NatsTls | undefined;
}

/** What a log line may say about a connection's security. */
export interface NatsSecuritySummary {
  auth: NatsAuthKind | 'none';
  tls: 'off' | 'server' | 'mutual';
}

const AUTH_FIELDS: Record<NatsAuthKind, readonly (readonly string[])[]> = {
  token: [['token']],
  user: [['user', 'password']],
  nkey: [['seed'], ['seedFile']],
  creds: [['credsFile'], ['creds']],
};

/**
 * Checks the shape of `security` (an auth kind with exactly its fields, non-empty; a TLS key with
 * its certificate) and returns it; ConfigError naming the field otherwise. Never shows a value.
 */
export function checkNatsSecurity(security: NatsSecurity, where = 'nats'): NatsSecurity {
  const auth = security.auth as Record<string, unknown> | undefined;
  if (auth !== undefined) {
    const kind = auth.kind;
    if (typeof kind !== 'string' || !Object.hasOwn(AUTH_FIELDS, kind)) {
      throw new ConfigError(`${where}.auth.kind must be one of ${Object.keys(AUTH_FIELDS).join(', ')}`);
    }
    const forms = AUTH_FIELDS[kind as NatsAuthKind];
    const given = Object.keys(auth).filter((k) => k !== 'kind' && auth[k] !== undefined);
    const form = forms.find((f) => f.length === given.length && f.every((k) => given.includes(k)));
    if (!form) {
      const expected = forms.map((f) => f.join(' + ')).join(' or ');
      throw new ConfigError(`${where}.auth of kind ${kind} takes ${expected}; got ${given.join(', ') || 'nothing'}`);
    }
    for (const k of form) {
      if (typeof auth[k] !== 'string' || auth[k] === '') {
        throw new ConfigError(`${where}.auth.${k} must be a non-empty string`);
      }
    }
  }
  const tls = security.tls;
  if (tls !== undefined) {
    for (const k of ['caFile', 'certFile', 'keyFile'] as const) {
      if (tls[k] !== undefined && (typeof tls[k] !== 'string' || tls[k] === '')) {
        throw new ConfigError(`${where}.tls.${k} must be a non-empty path`);
      }
    }
    if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
      throw new ConfigError(`${where}.tls.certFile and ${where}.tls.keyFile go together (mutual TLS needs both)`);
    }
  }
  return security;
}

/** The auth kind and TLS mode of `security`, for logs. */
export function describeNatsSecurity(security: NatsSecurity | undefined): NatsSecuritySummary {
  const tls = security?.tls;
  return {
    auth: security?.auth?.kind ?? 'none',
    tls: tls === undefined ? 'off' : tls.certFile !== undefined ? 'mutual' : 'server',
  };
}

/**
 * The nats.js connect options of `security` (token, user/pass, an authenticator, tls). Files are
 * read once here, so a missing one is a ConfigError naming its path before anything connects, and
 * again by the authenticator at each (re)connect, so rotated credentials are picked up.
 */
export function natsConnectOptions(
  security: NatsSecurity | undefined,
): Pick<NodeConnectionOptions, 'token' | 'user' | 'pass' | 'authenticator' | 'tls'> {
  if (security === undefined) return {};
  checkNatsSecurity(security);
  const out: Pick<NodeConnectionOptions, 'token' | 'user' | 'pass' | 'authenticator' | 'tls'> = {};
  const auth = security.auth;
  if (auth?.kind === 'token') out.token = auth.token;
  if (auth?.kind === 'user') {
    out.user = auth.user;
    out.pass = auth.password;
  }
  if (auth?.kind === 'nkey') {
    const seed = 'seed' in auth ? () => encode(auth.seed.trim()) : fileReader(auth.seedFile, 'NKey seed', true);
    seed();
    out.authenticator = nkeyAuthenticator(seed);
  }
  if (auth?.kind === 'creds') {
    const creds = 'creds' in auth ? () => encode(auth.creds) : fileReader(auth.credsFile, 'creds', false);
    creds();
    out.authenticator = credsAuthenticator(creds);
  }
  if (security.tls !== undefined) {
    const { caFile, certFile, keyFile } = security.tls;
    for (const [what, path] of [
      ['TLS CA', caFile],
      ['TLS certificate', certFile],
      ['TLS key', keyFile],
    ] as const) {
      if (path !== undefined) fileReader(path, what, false)();
    }
    out.tls = {
      ...(caFile === undefined ? {} : { caFile }),
      ...(certFile === undefined ? {} : { certFile, keyFile }),
    };
  }
  return out;
}

/** Server URLs as logs and errors may show them: credentials in a URL are masked. */
export function serversForLog(servers: string | string[]): string {
  return (Array.isArray(servers) ? servers : [servers]).map(redactUrl).join(', ');
}

/**
 * A connect failure that retrying cannot fix, as a ConfigError naming the servers and the auth
 * kind: refused or expired credentials, a failed TLS handshake. Undefined for any other failure.
 * The message carries the server's or TLS library's reason with every secret of `security` masked.
 */
export function permanentConnectError(
  err: unknown,
  servers: string | string[],
  security: NatsSecurity | undefined,
): SquallError | undefined {
  const summary = describeNatsSecurity(security);
  const where = serversForLog(servers);
  const details = { servers: where, auth: summary.auth, tls: summary.tls };
  if (err instanceof natsErrors.AuthorizationError || err instanceof natsErrors.UserAuthenticationExpiredError) {
    return new ConfigError(
      `NATS at ${where} refused the credentials (auth: ${summary.auth}): ${maskSecrets(err.message, servers, security)}`,
      { cause: err, details },
    );
  }
  const tls = tlsFailure(err);
  if (tls !== undefined) {
    return new ConfigError(
      `TLS with NATS at ${where} failed (tls: ${summary.tls}, auth: ${summary.auth}): ${maskSecrets(tls, servers, security)}`,
      { cause: err, details },
    );
  }
  return undefined;
}

/**
 * permanentConnectError of `err`, or of one plain attempt when `err` does not tell: with
 * reconnects on, nats.js retries a TLS handshake the server rejects (mutual TLS without an
 * acceptable client certificate) until its connect timeout, and reports only the timeout. The
 * attempt has no reconnects, so it fails with the server's reason. Undefined when the failure
 * passes (the server is away, or the attempt connected).
 */
export async function explainConnectFailure(
  err: unknown,
  servers: string | string[],
  security: NatsSecurity | undefined,
  timeoutMs: number,
): Promise<SquallError | undefined> {
  const direct = permanentConnectError(err, servers, security);
  if (direct !== undefined || security === undefined) return direct;
  // The server's TLS alert races with its closing the socket: under TLS 1.3 the client has sent
  // CONNECT before the server has checked its certificate, and the server's reset may discard the
  // alert unread (1 attempt in 100 alone, far more on a loaded machine). Look again, a little later.
  for (let attempt = 0; attempt < PROBE_ATTEMPTS; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    try {
      const nc = await connect({
        ...natsConnectOptions(security),
        servers,
        name: 'squall-connect-check',
        reconnect: false,
        timeout: timeoutMs,
      });
      await nc.close();
      return undefined;
    } catch (probeErr) {
      const permanent = permanentConnectError(probeErr, servers, security);
      if (permanent !== undefined || !/ECONNRESET|EPIPE/.test(causeText(probeErr))) return permanent;
    }
  }
  return undefined;
}

/** Plain attempts explainConnectFailure makes while each ends in a reset that hides the reason. */
const PROBE_ATTEMPTS = 8;

/** Codes and messages of `err` and its causes, for matching. */
function causeText(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    parts.push(`${typeof code === 'string' ? code : ''} ${e.message}`);
  }
  return parts.join(' ');
}

/** Node's TLS verification codes and OpenSSL alerts: a handshake that fails the same way next time. */
const TLS_FAILURE =
  /\b(ERR_SSL_\w+|ERR_TLS_\w+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_SIGNATURE_FAILURE|HOSTNAME_MISMATCH)\b|certificate|TLS required|tls: |SSL routines|wrong version number/i;

/** The reason of a TLS failure somewhere in `err`'s cause chain, else undefined. */
function tlsFailure(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (TLS_FAILURE.test(`${typeof code === 'string' ? code : ''} ${e.message}`)) return e.message.trim();
  }
  return undefined;
}

/** `text` with every secret of `security` and of the URLs replaced by `***` (belt and braces). */
export function maskSecrets(text: string, servers: string | string[], security: NatsSecurity | undefined): string {
  const secrets: string[] = [];
  const auth = security?.auth;
  if (auth?.kind === 'token') secrets.push(auth.token);
  if (auth?.kind === 'user') secrets.push(auth.password);
  if (auth?.kind === 'nkey' && 'seed' in auth) secrets.push(auth.seed.trim());
  if (auth?.kind === 'creds' && 'creds' in auth) secrets.push(auth.creds);
  for (const url of Array.isArray(servers) ? servers : [servers]) {
    const m = /^[a-z+]+:\/\/([^@/]+)@/i.exec(url.trim());
    if (m?.[1]) secrets.push(...m[1].split(':').slice(m[1].includes(':') ? 1 : 0));
  }
  let out = text;
  for (const s of secrets.filter((x) => x.length >= 4)) out = out.split(s).join('***');
  return out;
}

function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Reads `path` (trimmed when `trim`) on every call; ConfigError naming the path when it cannot. */
function fileReader(path: string, what: string, trim: boolean): () => Uint8Array {
  return () => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read the NATS ${what} file ${path}: ${(err as NodeJS.ErrnoException).code}`, {
        cause: err,
      });
    }
    if (text.trim() === '') throw new ConfigError(`the NATS ${what} file ${path} is empty`);
    return encode(trim ? text.trim() : text);
  };
}
