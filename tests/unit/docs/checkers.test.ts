/** The docs test's own checkers: they must refuse what is wrong, or the docs test proves nothing. */

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { extractBlocks, ROOT } from './blocks.js';
import { checkCommand, commandLines, splitShell } from './commands.js';
import { checkSubjectBody } from './messages.js';
import { rewriteImports } from './typescript.js';

const check = (line: string): void => {
  for (const cmd of splitShell(line)) checkCommand(cmd, { files: new Set(), env: {} });
};

describe('docs checkers', () => {
  it('read a block, its no-run reason and its hidden prelude', () => {
    const md = ['text', '<!-- doc-test: no-run: needs servers', 'const x = 1;', '-->', '```ts a.ts', 'x;', '```'];
    expect(extractBlocks('doc.md', md.join('\n'))).toEqual([
      {
        file: 'doc.md',
        line: 5,
        lang: 'ts',
        info: 'a.ts',
        code: 'x;',
        noRun: 'needs servers',
        prelude: 'const x = 1;',
      },
    ]);
    expect(() => extractBlocks('doc.md', '<!-- doc-test: skip -->\n```ts\n```')).toThrow(/unknown doc-test directive/);
    expect(() => extractBlocks('doc.md', '```ts\nopen')).toThrow(/never closed/);
  });

  it('split shell lines as a shell would, keeping <placeholders> as words', () => {
    expect(splitShell(`squall signal o-1 '{"type":"a b"}' # note`)).toEqual([
      { words: ['squall', 'signal', 'o-1', '{"type":"a b"}'], redirects: [] },
    ]);
    expect(splitShell('squall history o-1 > o.jsonl && npm test')).toEqual([
      { words: ['squall', 'history', 'o-1'], redirects: ['o.jsonl'] },
      { words: ['npm', 'test'], redirects: [] },
    ]);
    expect(splitShell('squall complete-callback <token>')[0]?.words).toEqual([
      'squall',
      'complete-callback',
      '<token>',
    ]);
    expect(commandLines('console', '$ squall query o-1\n{"status":"running"}')).toEqual(['squall query o-1']);
  });

  it('refuse commands the CLI, npm, the bench or nats would refuse', () => {
    expect(() => check('squall start order --wait')).not.toThrow();
    expect(() => check('squall start order --no-such-flag')).toThrow(/no-such-flag/);
    expect(() => check('squall signal o-1 not-json')).toThrow(/JSON/);
    expect(() => check('npm run no-such-script')).toThrow(/no such script/);
    expect(() => check('npm install squall')).not.toThrow();
    expect(() => check('npm install left-pad')).toThrow(/only/);
    expect(() => check('npm run bench -- latency --runs 10')).not.toThrow();
    expect(() => check('npm run bench -- latency --no-such-flag 1')).toThrow(/no scenario reads/);
    expect(() => check('npm run bench -- nope')).toThrow(/scenario must be one of/);
    expect(() => check('npx vitest run tests/no-such-dir')).toThrow(/no such file/);
    expect(() => check('rm -rf /')).toThrow(/no rule checks/);
    expect(() => check('NATS_URL=http://x squall query o-1')).toThrow(/NATS URL/);
    expect(() => check('export MONGO_URL=localhost')).toThrow(/MongoDB URL/);
    expect(() => check(`nats pub squall.signal.o-1 '{"type":"approve"}'`)).toThrow(/content-type/);
  });

  it('validate NATS bodies with the receiving parser', () => {
    expect(checkSubjectBody('squall.start.order', { workflowId: 'o-1' })).toEqual({
      parser: 'router parseInbound (start)',
    });
    expect(() => checkSubjectBody('squall.start.order', { idReusePolicy: 'sometimes' })).toThrow(/idReusePolicy/);
    expect(() => checkSubjectBody('squall.signal.o-1', { type: 'xstate.init' })).toThrow(/reserved/);
    expect(() => checkSubjectBody('squall.task.charge', { runId: 'r' })).toThrow();
    expect(() =>
      checkSubjectBody('squall.event.0.fired.r-1', { runId: 'r-1', workflowId: 'w', timerSeq: 1, firedAt: 1 }),
    ).toThrow(/partition/);
    expect(() => checkSubjectBody('nope.start.order', {})).toThrow(/not a Squall subject/);
  });

  it('map the package names and repo paths of imports', () => {
    const code = `import { a } from 'squall';\nimport { b } from 'squall/testing';\nimport { c } from './examples/x.js';\nimport { d } from './w.js';\nimport { e } from 'xstate';`;
    const out = rewriteImports(code, join(ROOT, 'tests/unit/docs/.blocks-1/doc'), new Set(['w.ts']));
    expect(out).toContain(`from '../../../../../shared/index.js'`);
    expect(out).toContain(`from '../../../../../shared/testing/index.js'`);
    expect(out).toContain(`from '../../../../../examples/x.js'`);
    expect(out).toContain(`from './w.js'`);
    expect(out).toContain(`from 'xstate'`);
  });
});
