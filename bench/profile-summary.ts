/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time per function (name + file:line) and per
 * package or source folder, across every .cpuprofile in a directory. Prints one JSON object.
 * Run: `npx tsx bench/profile-summary.ts /tmp/prof [top=25]`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** `node_modules/<pkg>`, a source folder such as `shared/runtime`, or a V8 pseudo-frame. */
function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const nm = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (nm) return nm[1] as string;
  if (url.startsWith('node:')) return url.split('/')[0] as string;
  const src = url.match(/\/work\/[^/]+\/((?:shared|bench|services)\/[^/]+)/);
  return src ? (src[1] as string) : url.replace(/^file:\/\//, '');
}

const dir = process.argv[2] ?? '/tmp/prof';
const top = Number(process.argv[3] ?? 25);
const byFn = new Map<string, number>();
const byArea = new Map<string, number>();
let totalUs = 0;
let idleUs = 0;
const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
for (const f of files) {
  const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Profile;
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  // Self time: each sample's delta belongs to the node it hit.
  p.samples.forEach((id, i) => {
    const n = nodes.get(id);
    const us = p.timeDeltas[i] ?? 0;
    // Idle samples are waiting on I/O: counted apart, so shares are of busy time.
    if (!n) return;
    if (n.callFrame.functionName === '(idle)') {
      idleUs += us;
      return;
    }
    const { functionName, url, lineNumber } = n.callFrame;
    const short = url.replace(/^file:\/\/\/work\/[^/]+\//, '').replace(/.*node_modules\//, '');
    const key = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
    totalUs += us;
  });
}
const rank = (m: Map<string, number>) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => ({ what: k, ms: Math.round(us / 1000), pct: Math.round((us / totalUs) * 1000) / 10 }));
process.stdout.write(
  `${JSON.stringify({ profiles: files.length, busyMs: Math.round(totalUs / 1000), idleMs: Math.round(idleUs / 1000), byArea: rank(byArea), bySelfTime: rank(byFn) }, null, 1)}\n`,
);
