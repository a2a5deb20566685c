/**
 * Checks the command lines of the docs' shell blocks without running them: `squall …` goes
 * through the CLI's own parser, `npm run …` must name a script (and `npm run bench` a scenario
 * and flags the bench reads), `npx …` a tool that is installed and paths that exist, `nats …` a
 * Squall subject and a body the router's parsers accept.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCli } from '../../../services/cli/args.js';
import { ROOT } from './blocks.js';
import { checkSubjectBody } from './messages.js';

/** One simple command: words after quote removal, and files it writes with `>`. */
export interface Command {
  words: string[];
  redirects: string[];
}

/**
 * Splits one shell line into simple commands (on `&&`, `||`, `;`, `|`) and words, honouring
 * quotes, backslashes and `#` comments; `<word>` is kept as a word (a placeholder), not a redirect.
 */
export function splitShell(line: string): Command[] {
  const commands: Command[] = [];
  let cur: Command = { words: [], redirects: [] };
  let word: string | undefined;
  let redirectNext = false;
  const endWord = (): void => {
    if (word === undefined) return;
    if (redirectNext) cur.redirects.push(word);
    else cur.words.push(word);
    word = undefined;
    redirectNext = false;
  };
  const endCommand = (): void => {
    endWord();
    if (cur.words.length > 0) commands.push(cur);
    cur = { words: [], redirects: [] };
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unclosed ' in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let s = '';
      for (i++; i < line.length && line[i] !== '"'; i++) s += line[i] === '\\' ? (line[++i] ?? '') : line[i];
      if (i >= line.length) throw new Error(`unclosed " in: ${line}`);
      word = (word ?? '') + s;
    } else if (c === '\\') {
      word = (word ?? '') + (line[++i] ?? '');
    } else if (/\s/.test(c)) {
      endWord();
    } else if (c === '#' && word === undefined) {
      break;
    } else if (c === '<' && word === undefined && /^<[\w-]+>/.test(line.slice(i))) {
      const end = line.indexOf('>', i);
      word = line.slice(i, end + 1);
      i = end;
    } else if (c === '>' || c === '<') {
      endWord();
      redirectNext = true;
    } else if (c === ';' || c === '|' || (c === '&' && line[i + 1] === '&')) {
      if (line[i + 1] === c) i++;
      endCommand();
    } else {
      word = (word ?? '') + c;
    }
  }
  endCommand();
  return commands;
}

/** The command lines of a shell block: `$ ` lines of a console session, else every line. */
export function commandLines(lang: string, code: string): string[] {
  const joined = code.replace(/\\\n/g, ' ').split('\n');
  if (lang === 'console') return joined.filter((l) => l.startsWith('$ ')).map((l) => l.slice(2));
  return joined.filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

/**
 * What one block has set up so far: files its lines wrote with `>`, and variables they exported
 * (the CLI reads NATS_URL and the like, so they are checked as it checks them).
 */
export interface BlockContext {
  files: Set<string>;
  env: Record<string, string>;
}

/** What checks each documented program's arguments; a program missing here fails the docs test. */
const PROGRAMS: Record<string, (args: string[], ctx: BlockContext) => void> = {
  squall: (args, ctx) => checkSquall(args, ctx),
  npm: (args) => checkNpm(args),
  npx: (args, ctx) => checkNpx(args, ctx),
  nats: (args) => checkNats(args),
  node: (args, ctx) => {
    if (args[0] === 'bin/squall.js') checkSquall(args.slice(1), ctx);
    else mustExist(args.find((a) => /\.(ts|js|mjs)$/.test(a)) ?? '');
  },
  export: (args, ctx) => {
    for (const a of args) {
      const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(a);
      if (!m) throw new Error(`export: expected NAME=value, got ${JSON.stringify(a)}`);
      ctx.env[m[1] as string] = m[2] as string;
    }
    parseCli(['help'], ctx.env); // the CLI checks the connection variables of every command
  },
  docker: (args) => {
    if (args[0] !== 'compose') throw new Error(`docker: only 'docker compose' is documented, got ${args[0]}`);
    mustExist('docker-compose.yml');
  },
  bash: (args) => mustExist(args[0] ?? ''),
  'apt-get': (args) => {
    if (args[0] !== 'install' || args.length < 2) throw new Error('apt-get: expected apt-get install <package>');
  },
};

/** Checks one simple command; `ctx` carries what earlier lines of the block set up. */
export function checkCommand(cmd: Command, ctx: BlockContext): void {
  const words = cmd.words.slice();
  const env = { ...ctx.env };
  // Leading NAME=value words are the command's own environment.
  for (
    let m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(words[0] ?? '');
    m;
    m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(words[0] ?? '')
  ) {
    env[m[1] as string] = m[2] as string;
    words.shift();
  }
  const [name = '', ...args] = words;
  const check = PROGRAMS[name];
  if (!check)
    throw new Error(`no rule checks the command ${JSON.stringify(name)}: add one to tests/unit/docs/commands.ts`);
  check(args, name === 'export' ? ctx : { files: ctx.files, env });
}

function checkSquall(args: string[], ctx: BlockContext): void {
  // `squall replay --history <file>` checks that the file exists: give it the files the block wrote.
  const history = args.indexOf('--history');
  const file = history >= 0 ? args[history + 1] : undefined;
  const argv = args.slice();
  if (file !== undefined && ctx.files.has(file)) argv[history + 1] = join(ROOT, 'package.json');
  parseCli(argv, ctx.env);
}

function checkNpm(args: string[]): void {
  const [sub, script, ...rest] = args;
  if (sub === 'test' || sub === 'ci') return;
  // Installing is documented for this package alone; `npm pack` takes no arguments here.
  if (sub === 'install' && script === 'squall' && rest.length === 0) return;
  if (sub === 'pack' && script === undefined) return;
  if (sub !== 'run') {
    throw new Error(
      `npm ${args.join(' ')}: only 'npm test', 'npm ci', 'npm install squall', 'npm pack' and 'npm run' are documented`,
    );
  }
  if (script === undefined || pkg.scripts[script] === undefined) {
    throw new Error(`npm run ${script}: no such script in package.json`);
  }
  if (rest.length === 0) return;
  if (rest[0] !== '--') throw new Error(`npm run ${script}: arguments must follow '--'`);
  if (script !== 'bench') throw new Error(`npm run ${script}: no rule checks its arguments`);
  checkBench(rest.slice(1));
}

const benchSources = readdirSync(join(ROOT, 'bench'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => readFileSync(join(ROOT, 'bench', f), 'utf8'))
  .join('\n');

/** A scenario the bench registers, and only flags some scenario reads. */
function checkBench(args: string[]): void {
  const [scenario = '', ...flags] = args;
  const known = /const SCENARIOS[^{]*\{([^}]*)\}/.exec(benchSources)?.[1] ?? '';
  const names = known.split(/[\s,]+/).filter(Boolean);
  if (scenario !== 'all' && !names.includes(scenario)) {
    throw new Error(`npm run bench -- ${scenario}: scenario must be one of ${names.join(', ')}, all`);
  }
  for (const f of flags.filter((a) => a.startsWith('--')).map((a) => a.slice(2))) {
    const read = new RegExp(`flags\\.${f}\\b|flags\\['${f}'\\]|flags, '${f}'`).test(benchSources);
    if (!read) throw new Error(`npm run bench -- ${scenario}: no scenario reads --${f}`);
  }
}

function checkNpx(args: string[], ctx: BlockContext): void {
  const [tool = '', ...rest] = args;
  if (tool === 'squall') {
    checkSquall(rest, ctx);
    return;
  }
  if (!existsSync(join(ROOT, 'node_modules', '.bin', tool))) throw new Error(`npx ${tool}: not installed`);
  // Paths into the repo must exist; a bare word (a vitest project name, a flag value) is not a path.
  for (const a of rest) if (/^(tests|bench|shared|services|scripts|examples)\//.test(a)) mustExist(a);
}

function checkNats(args: string[]): void {
  const [verb = '', subject = '', ...rest] = args;
  const body = rest.find((a, i) => !a.startsWith('-') && !(rest[i - 1] ?? '').startsWith('-H'));
  if (verb === 'sub') {
    if (!subject.startsWith('squall.')) throw new Error(`nats sub ${subject}: not a Squall subject`);
    return;
  }
  if (verb !== 'req' && verb !== 'pub') throw new Error(`nats ${verb}: only req, pub and sub are documented`);
  const json = rest.includes('content-type:application/json');
  if (!json) throw new Error(`nats ${verb} ${subject}: send JSON with -H content-type:application/json`);
  checkSubjectBody(subject, JSON.parse(body ?? 'null') as unknown);
}

function mustExist(path: string): void {
  if (!existsSync(join(ROOT, path))) throw new Error(`${path}: no such file in the repo`);
}
