/**
 * Every relative link of README.md and docs/*.md points at a file of the repo and, when it names
 * an anchor, at a heading of that file (GitHub's slugs: lower case, punctuation dropped, spaces
 * to dashes).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { docFiles, ROOT } from './blocks.js';

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(path: string): Set<string> {
  const text = readFileSync(path, 'utf8').replace(/^(`{3,}|~{3,})[\s\S]*?^\1/gm, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1] as string)));
}

describe('docs links', () => {
  for (const file of docFiles()) {
    it(`resolve: ${file}`, () => {
      const text = readFileSync(join(ROOT, file), 'utf8').replace(/^(`{3,}|~{3,})[\s\S]*?^\1/gm, '');
      const broken: string[] = [];
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1] as string;
        if (/^[a-z]+:/.test(link)) continue; // https:, mailto:
        const [path = '', anchor] = link.split('#');
        const target = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
        if (!existsSync(target)) {
          broken.push(`${link}: no file ${relative(ROOT, target)}`);
          continue;
        }
        if (anchor !== undefined && statSync(target).isFile() && !anchorsOf(target).has(anchor)) {
          broken.push(`${link}: no heading #${anchor} in ${relative(ROOT, target)}`);
        }
      }
      expect(broken).toEqual([]);
    });
  }

  it('slug headings as GitHub does', () => {
    expect(slug('Terminate, child workflows, continue-as-new')).toBe('terminate-child-workflows-continue-as-new');
    expect(slug('How `squall/testing` works')).toBe('how-squalltesting-works');
  });
});
