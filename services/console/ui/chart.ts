/**
 * A definition graph drawn as a statechart: elkjs lays out the states (compound and parallel ones
 * as nodes holding their children, an initial dot in each), the transitions labelled by event,
 * `after` delay or invoke outcome; Preact draws the SVG. The active states are filled, the states
 * and transitions of the run's path tinted, the state a history commit moved to outlined.
 */

import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { DefinitionGraph, GraphState, GraphTransition } from '../wire.js';

const elk = new ELK();

/** A state's box, in absolute coordinates. */
interface Box {
  state: GraphState;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A laid-out transition: its polyline and label position. */
interface Line {
  t: GraphTransition;
  target: string;
  points: { x: number; y: number }[];
  label?: { x: number; y: number; width: number; height: number };
}

interface Layout {
  width: number;
  height: number;
  boxes: Box[];
  lines: Line[];
  dots: { x: number; y: number; to: { x: number; y: number }[] }[];
}

const CHAR = 7.2;
const LABEL_H = 16;

function leafSize(s: GraphState): { width: number; height: number } {
  const lines = [s.key, ...s.invokes.map((i) => `◆ ${i.src}`)];
  const width = Math.max(96, ...lines.map((l) => l.length * CHAR + 28));
  return { width, height: 34 + s.invokes.length * 18 };
}

function elkNode(s: GraphState, edges: ElkExtendedEdge[]): ElkNode {
  const isContainer = s.children.length > 0;
  if (!isContainer) return { id: s.id, ...leafSize(s) };
  const children = s.children.map((c) => elkNode(c, edges));
  if (s.type === 'compound' && s.initial) {
    children.unshift({ id: `${s.id}#init`, width: 10, height: 10 });
    edges.push({ id: `${s.id}#init>`, sources: [`${s.id}#init`], targets: [s.initial] });
  }
  const header = 30 + s.invokes.length * 18;
  return {
    id: s.id,
    children,
    layoutOptions: {
      'elk.padding': `[top=${header},left=14,bottom=14,right=14]`,
      'elk.direction': s.type === 'parallel' ? 'DOWN' : 'RIGHT',
    },
  };
}

/** Lays out `g`; coordinates are absolute. */
async function layout(g: DefinitionGraph): Promise<Layout> {
  const edges: ElkExtendedEdge[] = [];
  const top = g.root.children.map((c) => elkNode(c, edges));
  if (g.root.initial) {
    top.unshift({ id: `${g.root.id}#init`, width: 10, height: 10 });
    edges.push({ id: `${g.root.id}#init>`, sources: [`${g.root.id}#init`], targets: [g.root.initial] });
  }
  g.transitions.forEach((t, i) => {
    t.targets.forEach((target, j) => {
      if (target === t.source) return;
      edges.push({
        id: `t${i}.${j}`,
        sources: [t.source],
        targets: [target],
        labels: [{ text: t.label, width: t.label.length * 6.6 + 10, height: LABEL_H }],
      });
    });
  });
  const root: ElkNode = {
    id: g.root.id,
    children: top,
    edges,
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.layered.spacing.nodeNodeBetweenLayers': '48',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '4',
      'elk.edgeLabels.inline': 'false',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
      'elk.padding': '[top=16,left=16,bottom=16,right=16]',
    },
  };
  const out = await elk.layout(root);
  const states = new Map<string, GraphState>();
  const index = (s: GraphState): void => {
    states.set(s.id, s);
    s.children.forEach(index);
  };
  index(g.root);
  const abs = new Map<string, { x: number; y: number }>([[g.root.id, { x: 0, y: 0 }]]);
  const boxes: Box[] = [];
  const dots: Layout['dots'] = [];
  const walk = (n: ElkNode, ox: number, oy: number): void => {
    for (const c of n.children ?? []) {
      const x = ox + (c.x ?? 0);
      const y = oy + (c.y ?? 0);
      abs.set(c.id, { x, y });
      const s = states.get(c.id);
      if (s) boxes.push({ state: s, x, y, width: c.width ?? 0, height: c.height ?? 0 });
      else dots.push({ x: x + 5, y: y + 5, to: [] });
      walk(c, x, y);
    }
  };
  walk(out, 0, 0);
  const byIndex = new Map(g.transitions.map((t, i) => [`t${i}`, t]));
  const lines: Line[] = [];
  const gather = (n: ElkNode): void => {
    for (const e of n.edges ?? []) {
      const off = abs.get((e as { container?: string }).container ?? n.id) ?? { x: 0, y: 0 };
      const points = (e.sections ?? []).flatMap((sec) => [sec.startPoint, ...(sec.bendPoints ?? []), sec.endPoint]);
      const shifted = points.map((p) => ({ x: p.x + off.x, y: p.y + off.y }));
      const t = byIndex.get(e.id.split('.')[0] ?? '');
      const target = e.targets[0] ?? '';
      if (!t) {
        // An initial dot's arrow: drawn as a plain line.
        lines.push({ t: initialTransition(e.sources[0] ?? '', target), target, points: shifted });
        continue;
      }
      const l = e.labels?.[0];
      lines.push({
        t,
        target,
        points: shifted,
        ...(l
          ? { label: { x: (l.x ?? 0) + off.x, y: (l.y ?? 0) + off.y, width: l.width ?? 0, height: l.height ?? 0 } }
          : {}),
      });
    }
    for (const c of n.children ?? []) gather(c);
  };
  gather(out);
  return { width: out.width ?? 0, height: out.height ?? 0, boxes, lines, dots };
}

function initialTransition(source: string, target: string): GraphTransition {
  return { source, targets: [target], kind: 'always', event: '', label: '', guarded: false };
}

/** What to highlight. Sets hold state paths ('' is the root). */
export interface ChartMarks {
  active: Set<string>;
  visited: Set<string>;
  /** `source>target` of transitions the run took. */
  taken: Set<string>;
  /** The state a selected history commit moved to. */
  focus: Set<string>;
}

/** The statechart of `graph`, with `marks`. */
export function Statechart(props: { graph: DefinitionGraph; marks: ChartMarks; closed: boolean }): VNode {
  const [lay, setLay] = useState<Layout | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    let live = true;
    layout(props.graph).then(
      (l) => live && setLay(l),
      (e: unknown) => live && setError(String(e)),
    );
    return () => {
      live = false;
    };
  }, [props.graph]);
  if (error) return html`<div class="empty">Cannot lay out the statechart: ${error}</div>`;
  if (!lay) return html`<div class="empty">Laying out…</div>`;
  const pathOf = new Map(lay.boxes.map((b) => [b.state.id, b.state.path]));
  const { marks } = props;
  const isTaken = (l: Line): boolean =>
    marks.taken.has(`${pathOf.get(l.t.source) ?? ''}>${pathOf.get(l.target) ?? ''}`);
  const boxClass = (b: Box): string => {
    const p = b.state.path;
    const cls = ['state', `type-${b.state.type}`, b.state.children.length > 0 ? 'container' : 'leaf'];
    if (marks.active.has(p)) cls.push(props.closed ? 'ended' : 'active');
    else if (marks.visited.has(p)) cls.push('visited');
    if (marks.focus.has(p)) cls.push('focus');
    return cls.join(' ');
  };
  return html`<svg class="chart" width="100%" style=${`max-width:${lay.width}px`} viewBox="0 0 ${lay.width} ${lay.height}"
      role="img" aria-label="statechart">
    <defs>
      <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" /></marker>
      <marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead taken" /></marker>
    </defs>
    ${lay.boxes.map(
      (b) => html`<g class=${boxClass(b)} data-state=${b.state.path} key=${b.state.id}>
        <rect x=${b.x} y=${b.y} width=${b.width} height=${b.height} rx=${b.state.children.length > 0 ? 10 : 8} />
        ${b.state.type === 'final' ? html`<rect class="inner" x=${b.x + 3} y=${b.y + 3} width=${b.width - 6} height=${b.height - 6} rx="6" />` : null}
        <text class="name" x=${b.x + 12} y=${b.y + 20}>${b.state.key}</text>
        ${b.state.type === 'parallel' ? html`<text class="kind" x=${b.x + b.width - 12} y=${b.y + 20} text-anchor="end">parallel</text>` : null}
        ${b.state.invokes.map(
          (inv, i) => html`<text class=${`invoke ${inv.kind}`} x=${b.x + 12} y=${b.y + 38 + i * 18}>
            ${inv.kind === 'child' ? '↳ ' : inv.kind === 'callback' ? '☎ ' : '◆ '}${inv.src}</text>`,
        )}
      </g>`,
    )}
    ${lay.dots.map((d) => html`<circle class="initial" cx=${d.x} cy=${d.y} r="5" />`)}
    ${lay.lines.map((l) => {
      const taken = isTaken(l);
      const d = l.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x},${p.y}`).join(' ');
      return html`<g class=${`edge kind-${l.t.kind}${taken ? ' taken' : ''}`}>
        <path d=${d} marker-end=${taken ? 'url(#arrow-taken)' : 'url(#arrow)'} />
        ${
          l.label
            ? html`<g class="label"><rect x=${l.label.x} y=${l.label.y} width=${l.label.width} height=${l.label.height} rx="4" />
              <text x=${l.label.x + l.label.width / 2} y=${l.label.y + 12} text-anchor="middle">${l.t.label}${l.t.guarded ? ' [?]' : ''}</text></g>`
            : null
        }
      </g>`;
    })}
  </svg>`;
}
