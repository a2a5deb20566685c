/**
 * No Docker engine runs in CI, so this checks docker-compose.yml and the Dockerfile against the
 * repo: every service command names files that exist and that the image copies in, every flag it
 * passes is one the CLI takes, and the `cluster` profile's NATS configuration matches the roles'
 * permissions in code.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { COMMANDS } from '../../services/cli/commands.js';
import { natsPermissions, SQUALL_ROLES } from '../../services/common/nats-permissions.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface ComposeService {
  image?: string;
  profiles?: string[];
  entrypoint?: string[];
  healthcheck?: { test?: string[] };
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition?: string }> | string[];
  volumes?: string[];
  deploy?: { replicas?: number };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
// `<<: *anchor` merges, as docker compose reads them.
const compose = parse(composeText, { merge: true }) as ComposeFile;
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

/** Sources of every `COPY src... dest` (no `--from`), relative to the build context. */
function copiedPaths(text: string): string[] {
  const sources: string[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0]?.toUpperCase() !== 'COPY' || words.some((w) => w.startsWith('--from'))) continue;
    sources.push(...words.slice(1, -1).filter((w) => !w.startsWith('--')));
  }
  return sources;
}

/** Files a service command names: the entry script and the values of module flags. */
function filesInCommand(command: string[]): string[] {
  const files = [command[1] ?? ''];
  command.forEach((arg, i) => {
    if (arg === '--workflows' || arg === '--activities') files.push(command[i + 1] ?? '');
  });
  return files;
}

const SQUALL_SERVICES = ['router', 'executor', 'timer'] as const;
const CLUSTER_SERVICES = ['cluster-router', 'cluster-executor', 'cluster-timer'] as const;
const NATS_NODES = ['nats-1', 'nats-2', 'nats-3'] as const;
const MONGO_NODES = ['mongo-1', 'mongo-2', 'mongo-3'] as const;

/** The services started without a profile (`docker compose up`). */
const defaultServices = Object.keys(compose.services).filter((n) => !compose.services[n]?.profiles);

describe('docker-compose.yml', () => {
  it('has NATS with JetStream on a volume, MongoDB 7 as a replica set, and the three services', () => {
    expect(defaultServices.sort()).toEqual(['executor', 'mongo', 'nats', 'router', 'timer']);
    const nats = compose.services.nats!;
    expect(nats.command).toContain('-js');
    expect(nats.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
    const mongo = compose.services.mongo!;
    expect(mongo.image).toMatch(/^mongo:7/);
    expect(mongo.command).toContain('--replSet');
    expect(Object.keys(compose.volumes ?? {})).toEqual(expect.arrayContaining(['mongo-data', 'nats-data']));
  });

  it('runs two executors', () => {
    expect(compose.services.executor?.deploy?.replicas).toBe(2);
  });

  it.each(SQUALL_SERVICES)('%s runs node bin/squall.js <its subcommand> from the repo image', (name) => {
    const service = compose.services[name]!;
    expect(service.build).toBe('.');
    expect(Array.isArray(service.command)).toBe(true);
    const command = service.command as string[];
    expect(command.slice(0, 3)).toEqual(['node', 'bin/squall.js', name]);
    expect(service.environment?.NATS_URL).toMatch(/^nats:\/\/nats:4222/);
    expect(service.environment?.MONGO_URL).toMatch(/^mongodb:\/\/mongo:27017\//);
    expect(Object.keys(service.depends_on ?? {}).sort()).toEqual(['mongo', 'nats']);
  });

  it.each([...SQUALL_SERVICES, ...CLUSTER_SERVICES])(
    'every flag the %s command passes is one its subcommand takes',
    (name) => {
      const command = compose.services[name]!.command as string[];
      const sub = command[2] as keyof typeof COMMANDS;
      const flags = Object.values(COMMANDS[sub].settings as Record<string, { flag?: string }>).map((s) => s.flag);
      for (const arg of command.slice(3).filter((a) => a.startsWith('--'))) {
        expect(flags, `${name}: ${arg}`).toContain(arg.slice(2));
      }
    },
  );

  it.each([...SQUALL_SERVICES, ...CLUSTER_SERVICES])(
    'every file the %s command names exists and is copied into the image',
    (name) => {
      const copied = copiedPaths(dockerfile);
      for (const file of filesInCommand(compose.services[name]!.command as string[])) {
        expect(existsSync(join(ROOT, file)), `${file} (named by ${name}) exists in the repo`).toBe(true);
        const inImage = copied.some((src) => {
          const rel = relative(src, file);
          return rel === '' || !rel.startsWith('..');
        });
        expect(inImage, `${file} (named by ${name}) is under a COPY source of the Dockerfile`).toBe(true);
      }
    },
  );
});

describe('docker-compose.yml, cluster profile', () => {
  const profiled = Object.keys(compose.services).filter((n) => compose.services[n]?.profiles?.includes('cluster'));
  const conf = readFileSync(join(ROOT, 'deploy/nats/cluster.conf'), 'utf8');

  it('holds 3 NATS nodes, 3 MongoDB members and the three services, all in the profile only', () => {
    expect(profiled.sort()).toEqual([...CLUSTER_SERVICES, ...MONGO_NODES, ...NATS_NODES].sort());
  });

  it.each(NATS_NODES)('%s runs deploy/nats/cluster.conf under its own name with its own store volume', (name) => {
    const node = compose.services[name]!;
    expect(node.image).toBe(compose.services.nats?.image);
    expect(node.command).toEqual(['-c', '/etc/nats/cluster.conf', '--name', name]);
    expect(node.volumes).toEqual(['./deploy/nats:/etc/nats:ro', `${name}-data:/data`]);
    expect(Object.keys(compose.volumes ?? {})).toContain(`${name}-data`);
    // Every password the configuration reads, the node's environment sets.
    for (const variable of conf.match(/\$SQUALL_NATS_\w+/g) ?? []) {
      expect(node.environment, `${name} sets ${variable}`).toHaveProperty(variable.slice(1));
    }
  });

  it('routes every node to all three, with JetStream storing in the volume', () => {
    for (const name of NATS_NODES) expect(conf).toContain(`nats-route://${name}:6222`);
    expect(conf).toMatch(/listen: 0\.0\.0\.0:6222/);
    expect(conf).toMatch(/store_dir: \/data/);
    expect(conf).toContain('include ./permissions.conf');
  });

  it('gives each role a NATS user with the permissions services/common/nats-permissions.ts makes', () => {
    const permissions = natsPermissions('squall');
    const expected = SQUALL_ROLES.map((r) => `${r.toUpperCase()}_PERMISSIONS: ${JSON.stringify(permissions[r])}`);
    const file = readFileSync(join(ROOT, 'deploy/nats/permissions.conf'), 'utf8');
    const actual = file.split('\n').filter((l) => /^[A-Z]+_PERMISSIONS: /.test(l));
    expect(actual, `deploy/nats/permissions.conf should hold:\n${expected.join('\n')}`).toEqual(expected);
    for (const role of SQUALL_ROLES) {
      const upper = role.toUpperCase();
      expect(conf).toContain(
        `{ user: ${role}, password: $SQUALL_NATS_${upper}_PASSWORD, permissions: $${upper}_PERMISSIONS }`,
      );
    }
  });

  it.each(MONGO_NODES)('%s is a keyed member of replica set rs0 with the root user from the environment', (name) => {
    const node = compose.services[name]!;
    expect(node.image).toMatch(/^mongo:7/);
    expect(node.command).toEqual(['mongod', '--replSet', 'rs0', '--bind_ip_all', '--keyFile', '/tmp/replica.key']);
    expect(node.entrypoint?.join(' ')).toContain('/tmp/replica.key');
    expect(Object.keys(node.environment ?? {}).sort()).toEqual([
      'MONGO_INITDB_ROOT_PASSWORD',
      'MONGO_INITDB_ROOT_USERNAME',
      'MONGO_REPLICA_SET_KEY',
    ]);
  });

  it('initiates the replica set with all three members', () => {
    const check = compose.services['mongo-1']!.healthcheck?.test?.join(' ') ?? '';
    for (const name of MONGO_NODES) expect(check).toContain(`host: '${name}:27017'`);
  });

  it.each(CLUSTER_SERVICES)('%s runs with R3 streams, every NATS node, the replica set and its role', (name) => {
    const service = compose.services[name]!;
    const sub = name.replace('cluster-', '');
    expect((service.command as string[]).slice(0, 3)).toEqual(['node', 'bin/squall.js', sub]);
    expect(service.command).toEqual(expect.arrayContaining(['--stream-replicas', '3']));
    const env = service.environment ?? {};
    expect(env.NATS_URL?.split(',')).toEqual(NATS_NODES.map((n) => `nats://${n}:4222`));
    expect(env.MONGO_URL).toMatch(/^mongodb:\/\/[^@]+@mongo-1:27017,mongo-2:27017,mongo-3:27017\/\?replicaSet=rs0&/);
    expect(env.SQUALL_NATS_USER).toBe(sub);
    expect(env.SQUALL_NATS_PASSWORD).toMatch(new RegExp(`^\\$\\{SQUALL_NATS_${sub.toUpperCase()}_PASSWORD:-`));
    expect(Object.keys(service.depends_on ?? {}).sort()).toEqual([...MONGO_NODES.slice(0, 1), ...NATS_NODES].sort());
  });

  it('commits no secret but marked dev-only defaults, each one settable from .env (listed in .env.example)', () => {
    const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
    const defaults = [...composeText.matchAll(/\$\{(\w+):-([^}]*)\}/g)];
    expect(defaults.length).toBeGreaterThan(0);
    for (const [, variable, value] of defaults) {
      expect(example, `.env.example lists ${variable}`).toMatch(new RegExp(`^${variable}=`, 'm'));
      if (/PASSWORD|KEY/.test(variable ?? '')) expect(value, variable).toMatch(/^dev-?only/i);
    }
    expect(readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n')).toContain('.env');
  });
});

describe('Dockerfile', () => {
  it('copies only paths that exist in the repo', () => {
    const copied = copiedPaths(dockerfile);
    expect(copied.length).toBeGreaterThan(0);
    for (const src of copied) expect(existsSync(join(ROOT, src)), `COPY source ${src} exists`).toBe(true);
  });

  it('installs from the lockfile and keeps tsx, which runs the TypeScript entry points', () => {
    expect(dockerfile).toMatch(/RUN npm ci\b/);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    expect(pkg.dependencies?.tsx).toBeDefined();
  });

  it('is not fed node_modules from the host', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toContain('node_modules');
  });
});
