/**
 * Scraping `/metrics` over HTTP in tests: a tiny parser of the Prometheus text format (series by
 * name, histograms as their `_bucket`, `_sum` and `_count` series) and sums over label subsets.
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One sample: its labels and value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** A scrape: samples by series name. */
export type Scrape = Map<string, Sample[]>;

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text format; throws naming the first line that is not a sample. */
export function parseMetricsText(text: string): Scrape {
  const out: Scrape = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const [, name = '', rawLabels = '', rawValue = ''] = m;
    const labels: Record<string, string> = {};
    for (const [, k = '', v = ''] of rawLabels.matchAll(LABEL_PAIR)) labels[k] = v.replace(/\\(.)/g, '$1');
    const value = parseValue(rawValue);
    if (value === undefined) throw new Error(`not a number in ${JSON.stringify(line)}`);
    const series = out.get(name) ?? [];
    series.push({ labels, value });
    out.set(name, series);
  }
  return out;
}

/** A sample value: a float, `+Inf`/`-Inf`, or NaN (any case, as Prometheus reads it). */
function parseValue(raw: string): number | undefined {
  if (raw === '+Inf') return Number.POSITIVE_INFINITY;
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(raw)) return Number.NaN;
  const value = Number(raw);
  return Number.isNaN(value) ? undefined : value;
}

/** The sum of the samples of `name` whose labels include `labels` (0 when there are none). */
export function sum(scrape: Scrape, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const s of scrape.get(name) ?? []) {
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** The `http://127.0.0.1:<port>` of a listening server. */
export function baseUrl(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** GETs `<base>/metrics` and parses it; throws on a status other than 200 or a wrong content type. */
export async function scrape(base: string): Promise<Scrape> {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`GET ${base}/metrics answered ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (!type.startsWith('text/plain')) throw new Error(`GET ${base}/metrics has content type ${type}`);
  return parseMetricsText(await res.text());
}
