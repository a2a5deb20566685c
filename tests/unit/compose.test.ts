/**
 * No Docker engine runs in CI, so this checks docker-compose.yml and the Dockerfile against the
 * repo: every service command names files that exist and that the image copies in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition?: string }>;
  volumes?: string[];
  deploy?: { replicas?: number };
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as ComposeFile;
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

describe('docker-compose.yml', () => {
  it('has NATS with JetStream on a volume, MongoDB 7 as a replica set, and the three services', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['executor', 'mongo', 'nats', 'router', 'timer']);
    const nats = compose.services.nats!;
    expect(nats.command).toContain('-js');
    expect(nats.volumes?.some((v) => v.endsWith(':/data'))).toBe(true);
    const mongo = compose.services.mongo!;
    expect(mongo.image).toMatch(/^mongo:7/);
    expect(mongo.command).toContain('--replSet');
    expect(Object.keys(compose.volumes ?? {}).sort()).toEqual(['mongo-data', 'nats-data']);
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

  it.each(SQUALL_SERVICES)('every file the %s command names exists and is copied into the image', (name) => {
    const copied = copiedPaths(dockerfile);
    for (const file of filesInCommand(compose.services[name]!.command as string[])) {
      expect(existsSync(join(ROOT, file)), `${file} (named by ${name}) exists in the repo`).toBe(true);
      const inImage = copied.some((src) => {
        const rel = relative(src, file);
        return rel === '' || !rel.startsWith('..');
      });
      expect(inImage, `${file} (named by ${name}) is under a COPY source of the Dockerfile`).toBe(true);
    }
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
