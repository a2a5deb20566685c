/**
 * Turns the docs' TypeScript blocks into modules and type-checks them against the sources:
 * `'squall'`, `'squall/testing'` and `'squall/services'` map to shared/index.ts,
 * shared/testing/index.ts and services/index.ts. A block may be named in its info string
 * (```ts workflows.ts); a relative import of a name given to a block of the same doc
 * (`./workflows.js`) reads that block, any other relative import is read from the repo root
 * (`./examples/order/workflows.js`). The modules live in a scratch folder under this one while
 * the test runs, so they resolve packages from the repo's node_modules and can be imported.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import ts from 'typescript';
import { type DocBlock, ROOT, where } from './blocks.js';

/** A block written as a module: its file and how many hidden prelude lines precede the block. */
export interface BlockModule {
  block: DocBlock;
  path: string;
  preludeLines: number;
}

const PACKAGE_EXPORTS: Record<string, string> = {
  squall: 'shared/index.js',
  'squall/testing': 'shared/testing/index.js',
  'squall/services': 'services/index.js',
};

/** Rewrites the import specifiers of a block for a module in `dir`; `local` names sibling blocks. */
export function rewriteImports(code: string, dir: string, local: ReadonlySet<string> = new Set()): string {
  const up = relative(dir, ROOT).split('\\').join('/');
  return code.replace(/(\bfrom\s+|\bimport\s*\(\s*|^import\s+)(['"])([^'"]+)\2/gm, (all, head, q, spec: string) => {
    if (spec.startsWith('./') && local.has(spec.slice(2).replace(/\.js$/, '.ts'))) return all;
    const target = PACKAGE_EXPORTS[spec] ?? (spec.startsWith('.') ? posix.normalize(spec) : undefined);
    return target === undefined ? all : `${head}${q}${up}/${target}${q}`;
  });
}

/**
 * Writes each block as a module in `<dir>/<doc>/`: `<name>` when its info string names it,
 * else `block-<line>.ts`. The folder is created empty.
 */
export function writeModules(blocks: DocBlock[], dir: string): BlockModule[] {
  rmSync(dir, { recursive: true, force: true });
  const named = new Map<string, Set<string>>();
  for (const b of blocks) {
    if (!b.info) continue;
    if (!/^[\w.-]+\.ts$/.test(b.info)) throw new Error(`${where(b)}: a block's name is a file name like workflows.ts`);
    const names = named.get(b.file) ?? new Set<string>();
    if (names.has(b.info)) throw new Error(`${where(b)}: ${b.info} names two blocks of ${b.file}`);
    named.set(b.file, names.add(b.info));
  }
  return blocks.map((block) => {
    const docDir = join(dir, block.file.replace(/[/.]/g, '-'));
    mkdirSync(docDir, { recursive: true });
    const path = join(docDir, block.info || `block-${block.line}.ts`);
    const prelude = block.prelude.trim() === '' ? '' : `${block.prelude.trim()}\n`;
    const local = named.get(block.file) ?? new Set<string>();
    // `export {}` makes a block without imports a module, so its names stay its own.
    writeFileSync(path, `${rewriteImports(prelude + block.code, docDir, local)}\nexport {};\n`);
    return { block, path, preludeLines: prelude === '' ? 0 : prelude.split('\n').length - 1 };
  });
}

/** Type-checks the modules with the repo's compiler options; one message per error, at its doc line. */
export function typeCheck(modules: BlockModule[]): string[] {
  const configPath = join(ROOT, 'tsconfig.json');
  const config = ts.readConfigFile(configPath, (p) => readFileSync(p, 'utf8'));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const program = ts.createProgram({
    rootNames: modules.map((m) => m.path),
    options: { ...parsed.options, noEmit: true, declaration: false, sourceMap: false },
  });
  const byPath = new Map(modules.map((m) => [m.path, m]));
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    const m = d.file ? byPath.get(d.file.fileName) : undefined;
    if (!d.file || d.start === undefined) return text;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    if (!m) return `${relative(ROOT, d.file.fileName)}:${line + 1}: ${text}`;
    const inBlock = line - m.preludeLines;
    const at =
      inBlock < 0
        ? `${where(m.block)} (hidden prelude line ${line + 1})`
        : `${m.block.file}:${m.block.line + 1 + inBlock}`;
    return `${at}: ${text}`;
  });
}
