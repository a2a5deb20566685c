/**
 * Every fenced block of README.md and docs/*.md is exercised here, by kind:
 * - `ts`: type-checked against the sources, then run (imported) unless a `doc-test: no-run:`
 *   comment gives the reason it cannot be (see ./blocks.ts for the comment's form);
 * - `sh` / `console`: each command line is checked by the parser that would read it (./commands.ts);
 * - `json` with a subject in its info string (```json squall.start.order): validated by the parser
 *   the receiving service runs (./messages.ts); `jsonl`: every line parses;
 * - `text tree`: a source tree; every path it names must exist;
 * - `text`: output shown for reading, not code.
 * Blocks that are not run (no-run and text) must match REVIEWED below, so adding one is a choice
 * a reviewer sees in the diff.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allBlocks, ROOT, where } from './blocks.js';
import { checkCommand, commandLines, splitShell } from './commands.js';
import { checkSubjectBody } from './messages.js';
import { type BlockModule, typeCheck, writeModules } from './typescript.js';

/** Blocks that are not run, as `<file> <lang>: <reason>`; reviewed by whoever changes it. */
const REVIEWED: string[] = [
  'README.md ts: starts services, which need NATS and MongoDB',
  'README.md ts: needs a running router (NATS and MongoDB)',
  'docs/events.md ts: connects to NATS; tests/e2e/events.test.ts publishes the same way',
  'docs/flow-control.md ts: needs a running router (NATS and MongoDB)',
  'docs/flow-control.md ts: needs a running router (NATS and MongoDB)',
  'docs/schedules.md ts: needs a running timer service (NATS and MongoDB)',
  'docs/security.md ts: connects to NATS and MongoDB',
  'docs/security.md text: output',
  'docs/services.md ts: starts services, which need NATS and MongoDB',
  'docs/testing.md text: output',
  "docs/testing.md ts: needs the integration project's servers",
  'docs/workflows.md text: output',
  'docs/workflows.md ts: needs a running router (NATS and MongoDB)',
  'docs/workflows.md ts: needs a running router; tests/e2e/run-timeouts.test.ts starts runs with these options',
  'docs/workflows.md ts: needs a running router (NATS and MongoDB)',
  'docs/workflows.md ts: needs a running router (NATS and MongoDB)',
  'docs/workflows.md ts: needs a running router (NATS and MongoDB)',
  'docs/workflows.md ts: needs a running router (NATS and MongoDB)',
];

const blocks = allBlocks();
const tsBlocks = blocks.filter((b) => b.lang === 'ts');
const scratch = join(import.meta.dirname, `.blocks-${process.pid}`);
let modules: BlockModule[] = [];

beforeAll(() => {
  modules = writeModules(tsBlocks, scratch);
});

afterAll(async () => {
  const { rmSync } = await import('node:fs');
  rmSync(scratch, { recursive: true, force: true });
});

describe('docs code blocks', () => {
  it('have a kind the test knows', () => {
    const unknown = blocks.filter((b) => !KINDS.has(b.lang)).map((b) => `${where(b)} '${b.lang}'`);
    expect(unknown, `use one of ${[...KINDS].join(', ')}`).toEqual([]);
    expect(blocks.filter((b) => b.noRun !== undefined && b.lang !== 'ts').map(where)).toEqual([]);
  });

  it('that are not run are the reviewed ones', () => {
    const notRun = blocks
      .filter((b) => b.noRun !== undefined || (b.lang === 'text' && b.info !== 'tree'))
      .map((b) => `${b.file} ${b.lang}: ${b.noRun ?? 'output'}`);
    console.info(`docs: ${blocks.length} blocks, ${notRun.length} not run:\n  ${notRun.join('\n  ')}`);
    expect(notRun).toEqual(REVIEWED);
  });

  it('in TypeScript type-check against the sources', { timeout: 180_000 }, () => {
    expect(typeCheck(modules)).toEqual([]);
  });

  for (const b of tsBlocks.filter((t) => t.noRun === undefined)) {
    it(`run: ${where(b)}`, { timeout: 30_000 }, async () => {
      const m = modules.find((x) => x.block === b);
      if (!m) throw new Error(`${where(b)}: module not written`);
      await import(pathToFileURL(m.path).href);
    });
  }

  for (const b of blocks.filter((x) => SHELL.has(x.lang))) {
    it(`commands parse: ${where(b)}`, () => {
      const ctx = { files: new Set<string>(), env: {} };
      for (const line of commandLines(b.lang, b.code)) {
        for (const cmd of splitShell(line)) {
          try {
            checkCommand(cmd, ctx);
          } catch (err) {
            throw new Error(`${where(b)}: ${line}\n  ${(err as Error).message}`);
          }
          for (const f of cmd.redirects) ctx.files.add(f);
        }
      }
    });
  }

  for (const b of blocks.filter((x) => x.lang === 'text' && x.info === 'tree')) {
    it(`tree paths exist: ${where(b)}`, () => {
      const missing = treePaths(b.code).filter((p) => !existsSync(join(ROOT, p)));
      expect(missing, `${where(b)} names paths that do not exist`).toEqual([]);
    });
  }

  for (const b of blocks.filter((x) => x.lang === 'json' || x.lang === 'jsonl')) {
    it(`JSON is valid: ${where(b)}`, () => {
      if (b.lang === 'jsonl') {
        for (const l of b.code.split('\n').filter((x) => x.trim() !== '')) JSON.parse(l);
        return;
      }
      const body = JSON.parse(b.code) as unknown;
      if (b.info === '') throw new Error(`${where(b)}: name the subject: \`\`\`json squall.<kind>.<token>`);
      checkSubjectBody(b.info, body);
    });
  }
});

const SHELL = new Set(['sh', 'console']);

/**
 * The paths of a tree block: a name or path (`services/router/`) at the start of a line is a
 * top-level entry, a name indented by two spaces lives in the last top-level folder; deeper lines
 * continue a comment.
 */
function treePaths(code: string): string[] {
  const paths: string[] = [];
  let parent = '';
  for (const line of code.split('\n')) {
    const m = /^( {0,2})([\w.-]+(?:\/[\w.-]+)*\/?)(\s|$)/.exec(line);
    if (!m) continue;
    if (m[1] === '') parent = m[2] as string;
    paths.push(m[1] === '' ? (m[2] as string) : `${parent}${m[2]}`);
  }
  return paths;
}
const KINDS = new Set(['ts', 'sh', 'console', 'json', 'jsonl', 'text']);
