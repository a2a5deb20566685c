import { describe, expect, it } from 'vitest';
import { natsPermissions, SQUALL_ROLES } from '../../../services/common/nats-permissions.js';
import { streamNames, subjects } from '../../../shared/names.js';

/** True when NATS subject pattern `pattern` matches subject `subject` (`*` one token, `>` the rest). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
const allowed = (patterns: string[], subject: string): boolean => patterns.some((p) => matches(p, subject));

describe('natsPermissions', () => {
  const s = subjects('shop');
  const names = streamNames('shop');
  const perms = natsPermissions('shop');

  it('lets a client use the user subjects and read completions, and nothing internal', () => {
    const pub = perms.client.publish.allow;
    for (const subject of [s.start('order'), s.signal('o-1'), s.cancel('o-1'), s.terminate('o-1'), s.query('o-1')]) {
      expect(allowed(pub, subject), subject).toBe(true);
    }
    expect(allowed(pub, s.api('describe')) && allowed(pub, s.callback('complete'))).toBe(true);
    expect(allowed(pub, s.schedule('create'))).toBe(true);
    expect(allowed(pub, s.definitions()), 'the console reads definition graphs').toBe(true);
    expect(allowed(pub, `$JS.API.CONSUMER.CREATE.${names.outcomes}.c1.shop.done.order.o-1`)).toBe(true);
    for (const subject of [
      s.result('r-1'),
      s.fired('r-1'),
      s.task('charge'),
      s.done('order', 'o-1'),
      s.timerSchedule('r-1'),
      `$JS.API.STREAM.CREATE.${names.inbox}`,
      `$JS.API.CONSUMER.CREATE.${names.events}.x`,
      `$JS.ACK.${names.tasks}.x.1.1.1.1.1`,
    ]) {
      expect(allowed(pub, subject), subject).toBe(false);
    }
    expect(perms.client.subscribe.allow).toEqual(['_INBOX.>', 'shop.started.*']);
  });

  it('lets an executor pull tasks and publish results only', () => {
    const pub = perms.executor.publish.allow;
    expect(allowed(pub, `$JS.API.CONSUMER.MSG.NEXT.${names.tasks}.activity_charge`)).toBe(true);
    expect(allowed(pub, `$JS.ACK.${names.tasks}.activity_charge.1.2.3.4.0`)).toBe(true);
    expect(allowed(pub, s.result('r-1'))).toBe(true);
    for (const subject of [s.start('order'), s.fired('r-1'), s.done('order', 'o'), s.task('charge')]) {
      expect(allowed(pub, subject), subject).toBe(false);
    }
    expect(allowed(pub, `$JS.API.STREAM.UPDATE.${names.tasks}`)).toBe(false);
    expect(allowed(pub, `$JS.API.CONSUMER.MSG.NEXT.${names.timers}.timer`)).toBe(false);
  });

  it('lets a timer answer the schedule API and start, cancel or terminate the runs of ticks, not fake results', () => {
    const pub = perms.timer.publish.allow;
    for (const subject of [s.start('report'), s.cancel('r-1'), s.terminate('r-1'), s.fired('r-1')]) {
      expect(allowed(pub, subject), subject).toBe(true);
    }
    for (const subject of [s.result('r-1'), s.signal('o-1'), s.done('report', 'r-1')]) {
      expect(allowed(pub, subject), subject).toBe(false);
    }
    expect(allowed(perms.timer.subscribe.allow, s.schedule('describe'))).toBe(true);
  });

  it('gives each prefix its own subjects and streams: two prefixes share only the inbox and account info', () => {
    const other = natsPermissions('other');
    for (const role of SQUALL_ROLES) {
      const mine = [...perms[role].publish.allow, ...perms[role].subscribe.allow];
      const theirs = new Set([...other[role].publish.allow, ...other[role].subscribe.allow]);
      for (const p of mine.filter((x) => theirs.has(x))) expect(['_INBOX.>', '$JS.API.INFO']).toContain(p);
      for (const p of mine) {
        expect(p.startsWith('shop.') || p.startsWith('_INBOX.') || p.includes('SHOP_') || p === '$JS.API.INFO', p).toBe(
          true,
        );
      }
    }
  });
});
