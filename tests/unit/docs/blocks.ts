/**
 * Fenced code blocks of the user docs (README.md and docs/*.md), with the `doc-test` directives
 * an HTML comment right before a block may carry. The comment is invisible on GitHub:
 *
 *   <!-- doc-test: no-run: needs NATS and MongoDB     (type-checked, never run; the reason is listed)
 *   import { connect } from 'squall';                  (lines after the first: hidden prelude code,
 *   const client = await connect();                     prepended to the block when it is checked)
 *   -->
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** One fenced block, with where it is and what its comment asks. */
export interface DocBlock {
  /** Path from the repo root, e.g. `docs/workflows.md`. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The info string's first word (`ts`, `sh`, `json`, `text`…); '' when none. */
  lang: string;
  /** The info string after the first word (a `json` block's subject). */
  info: string;
  code: string;
  /** The reason after `doc-test: no-run:`; undefined when the block is to be run. */
  noRun?: string;
  /** Hidden code from the comment, prepended when the block is checked. */
  prelude: string;
}

/** The repo root, from this file's place in it. */
export const ROOT = join(import.meta.dirname, '..', '..', '..');

/** README.md and every docs/*.md, as paths from the repo root. */
export function docFiles(root: string = ROOT): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

const FENCE = /^(`{3,}|~{3,})\s*([^\s`]*)\s*(.*)$/;

/** Every fenced block of one markdown file; throws on a fence left open. */
export function extractBlocks(file: string, text: string): DocBlock[] {
  const lines = text.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i] as string);
    if (!open) continue;
    const fence = open[1] as string;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] as string).startsWith(fence); i++) body.push(lines[i] as string);
    if (i >= lines.length) throw new Error(`${file}:${start + 1}: code fence never closed`);
    blocks.push({
      file,
      line: start + 1,
      lang: open[2] ?? '',
      info: (open[3] ?? '').trim(),
      code: body.join('\n'),
      ...directives(file, lines, start),
    });
  }
  return blocks;
}

/** Reads the `doc-test` comment ending on the line right above the fence at `fenceLine`. */
function directives(file: string, lines: string[], fenceLine: number): { noRun?: string; prelude: string } {
  const above = fenceLine - 1;
  if (above < 0 || !(lines[above] as string).trimEnd().endsWith('-->')) return { prelude: '' };
  let first = above;
  while (first >= 0 && !(lines[first] as string).includes('<!--')) first--;
  if (first < 0) return { prelude: '' };
  const comment = lines
    .slice(first, above + 1)
    .join('\n')
    .replace(/^\s*<!--/, '')
    .replace(/-->\s*$/, '');
  const [head = '', ...rest] = comment.split('\n');
  const m = /^\s*doc-test:\s*(.*)$/.exec(head);
  if (!m) return { prelude: '' };
  const directive = (m[1] ?? '').trim();
  const prelude = rest.join('\n').replace(/^\n+|\s+$/g, '');
  if (directive === '' || directive === 'prelude') return { prelude };
  const noRun = /^no-run:\s*(\S.*)$/.exec(directive);
  if (!noRun) throw new Error(`${file}:${first + 1}: unknown doc-test directive ${JSON.stringify(directive)}`);
  return { noRun: (noRun[1] as string).trim(), prelude };
}

/** Every block of every doc file. */
export function allBlocks(root: string = ROOT): DocBlock[] {
  return docFiles(root).flatMap((f) => extractBlocks(f, readFileSync(join(root, f), 'utf8')));
}

/** `file:line`, for messages. */
export function where(b: DocBlock): string {
  return `${b.file}:${b.line}`;
}

/** A path from the repo root, for messages. */
export function fromRoot(path: string, root: string = ROOT): string {
  return relative(root, path);
}
