/** The comparison as a terminal table, a JSON file and an SVG chart. */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Metric } from './harness.js'
import type { Machine } from './machine.js'
import { fmtBytes, fmtMs, fmtRatio, fmtSpread, type Spread } from './stats.js'

function fmtValue(m: Metric, s: Spread | null): string {
  if (s === null) return 'n/a'
  switch (m.unit) {
    case 'ms':
      return fmtSpread(s, fmtMs)
    case 'bytes':
      return fmtSpread(s, fmtBytes)
    case 'MB/s':
      return fmtSpread(s, (n) => `${n.toFixed(0)} MB/s`)
    case 'ratio':
      return fmtSpread(s, fmtRatio)
    case 'count':
      return fmtSpread(s, (n) => n.toFixed(0))
  }
}

export function columns(metrics: Metric[]): string[] {
  const cols: string[] = []
  for (const m of metrics) for (const c of Object.keys(m.values)) if (!cols.includes(c)) cols.push(c)
  return cols
}

/** One row per figure, one column per driver (and peer). */
export function table(metrics: Metric[]): string {
  const cols = columns(metrics)
  const rows = metrics.map((m) => [`${m.scenario}: ${m.name}`, ...cols.map((c) => (c in m.values ? fmtValue(m, m.values[c]) : ''))])
  const header = ['figure', ...cols]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd()
  const out = [line(header), widths.map((w) => '─'.repeat(w)).join('  ')]
  let scenario = ''
  for (const [i, r] of rows.entries()) {
    if (metrics[i].scenario !== scenario && scenario !== '') out.push('')
    scenario = metrics[i].scenario
    out.push(line(r))
  }
  const notes = [...new Set(metrics.filter((m) => m.note).map((m) => `${m.scenario}: ${m.note}`))]
  if (notes.length > 0) out.push('', ...notes.map((n) => `note — ${n}`))
  return out.join('\n')
}

/** The same table in Markdown, for README.md's Results section. */
export function markdown(metrics: Metric[]): string {
  const cols = columns(metrics)
  const out = [`| figure | ${cols.join(' | ')} |`, `| --- | ${cols.map(() => '---').join(' | ')} |`]
  for (const m of metrics) {
    out.push(`| ${m.scenario}: ${m.name} | ${cols.map((c) => (c in m.values ? fmtValue(m, m.values[c]) : '')).join(' | ')} |`)
  }
  return out.join('\n')
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b']

interface Series {
  name: string
  points: Array<[number, number]>
}

/** A small line chart (log y) as an SVG group placed at x, y. */
function lineChart(title: string, xLabels: string[], series: Series[], yFmt: (n: number) => string, x0: number, y0: number): string {
  const w = 420
  const h = 240
  const pad = { l: 70, r: 10, t: 30, b: 56 }
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v > 0)
  if (ys.length === 0) return ''
  const lo = Math.log10(Math.min(...ys)) - 0.1
  const hi = Math.log10(Math.max(...ys)) + 0.1
  const px = (i: number) => pad.l + (xLabels.length === 1 ? 0 : (i / (xLabels.length - 1)) * (w - pad.l - pad.r))
  const py = (v: number) => pad.t + (1 - (Math.log10(v) - lo) / (hi - lo || 1)) * (h - pad.t - pad.b)
  const parts = [
    `<g transform="translate(${x0},${y0})">`,
    `<text x="${w / 2}" y="16" text-anchor="middle" font-weight="bold">${title}</text>`,
    `<line x1="${pad.l}" y1="${h - pad.b}" x2="${w - pad.r}" y2="${h - pad.b}" stroke="#999"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${h - pad.b}" stroke="#999"/>`,
  ]
  xLabels.forEach((l, i) => {
    parts.push(`<text x="${px(i)}" y="${h - pad.b + 16}" text-anchor="middle">${l}</text>`)
  })
  for (let k = 0; k <= 3; k++) {
    const v = 10 ** (lo + ((hi - lo) * k) / 3)
    parts.push(`<text x="${pad.l - 6}" y="${py(v) + 4}" text-anchor="end">${yFmt(v)}</text>`)
  }
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]
    const pts = s.points.filter((p) => p[1] > 0)
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map(([x, y]) => `${px(x)},${py(y)}`).join(' ')}"/>`)
    for (const [x, y] of pts) parts.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3" fill="${c}"/>`)
    parts.push(`<text x="${pad.l + (i % 3) * 118}" y="${h - 20 + Math.floor(i / 3) * 13}" fill="${c}">■ ${s.name}</text>`)
  })
  parts.push('</g>')
  return parts.join('\n')
}

/** Space per driver against N containers, and prepare time against parent size. */
export function chart(metrics: Metric[], machine: Machine): string {
  const cols = columns(metrics)
  const density = metrics.filter((m) => m.scenario === '2 density' && /^store with \d+ containers?$/.test(m.name))
  const prepare = metrics.filter((m) => m.scenario === '1 ops' && /^prepare, .* parent$/.test(m.name))
  const series = (ms: Metric[]): Series[] =>
    cols
      .filter((c) => ms.some((m) => (m.values[c]?.median ?? 0) > 0))
      .map((c) => ({
        name: c,
        points: ms.map((m, i) => [i, m.values[c]?.median ?? 0] as [number, number]),
      }))
  const body = [
    lineChart(
      'disk space vs containers',
      density.map((m) => m.name.replace(/^store with (\d+).*/, 'N=$1')),
      series(density),
      fmtBytes,
      0,
      0,
    ),
    lineChart(
      'prepare time vs parent size',
      prepare.map((m) => m.name.replace(/^prepare, (.*) parent$/, '$1')),
      series(prepare),
      fmtMs,
      440,
      0,
    ),
  ].join('\n')
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="880" height="270" font-family="sans-serif" font-size="11">',
    '<rect width="100%" height="100%" fill="white"/>',
    body,
    `<text x="870" y="265" text-anchor="end" fill="#666">${machine.date.slice(0, 10)} · ${machine.cpu} × ${machine.cores} · ${machine.kernel} · ${machine.filesystem}</text>`,
    '</svg>',
  ].join('\n')
}

/** Writes `<name>.json`, `.svg` and `.md` (a run of some scenarios only is named after them, leaving latest.* alone). */
export async function writeResults(
  dir: string,
  metrics: Metric[],
  m: Machine,
  opts: { only?: string[]; [k: string]: unknown },
): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const name = opts.only?.length ? opts.only.join('-') : 'latest'
  const json = join(dir, `${name}.json`)
  const svg = join(dir, `${name}.svg`)
  const md = join(dir, `${name}.md`)
  await writeFile(json, JSON.stringify({ machine: m, options: opts, metrics }, null, 2) + '\n')
  await writeFile(svg, chart(metrics, m) + '\n')
  await writeFile(
    md,
    `Measured ${m.date.slice(0, 10)} on ${m.cpu} × ${m.cores}, ${m.memoryGiB} GiB, Linux ${m.kernel}, ${m.filesystem}, Node ${m.node}.\n\n${markdown(metrics)}\n`,
  )
  return [json, svg, md]
}
