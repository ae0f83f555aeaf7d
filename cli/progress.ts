/** The import progress line: on a terminal only (stderr), redrawn in place; nothing otherwise. */
import type { ImportProgress } from '../image/import.js'
import type { CliContext } from './context.js'
import { humanBytes } from './commands/snapshots.js'

const WIDTH = 24

function bar(done: number, total: number): string {
  const filled = total > 0 ? Math.min(WIDTH, Math.round((done / total) * WIDTH)) : 0
  return `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}]`
}

export function importProgress(ctx: CliContext): ((p: ImportProgress) => void) | undefined {
  if (!ctx.showProgress) return undefined
  return (p) => {
    const n = `layer ${p.layer + 1}/${p.layers} ${p.chainId.slice(7, 19)}`
    const what =
      p.phase === 'reused'
        ? 'already present'
        : p.phase === 'done'
          ? 'done'
          : `${bar(p.bytes, p.total ?? 0)} ${humanBytes(p.bytes)}${p.total ? ` / ${humanBytes(p.total)}` : ''}`
    ctx.err.write(`\r\x1b[K${n} ${what}${p.phase === 'reading' ? '' : '\n'}`)
  }
}

/** One line a layer, redrawn in place (at most ten times a second): what `docker pull` shows. */
export function layerLines(ctx: CliContext): ((layer: number, layers: number, text: string, final?: boolean) => void) | undefined {
  if (!ctx.showProgress) return undefined
  const lines: string[] = []
  let drawn = 0
  let last = 0
  return (layer, layers, text, final = false) => {
    while (lines.length < layers) lines.push('waiting')
    lines[layer] = text
    const now = Date.now()
    if (!final && now - last < 100) return
    last = now
    const up = drawn > 0 ? `\x1b[${drawn}A` : ''
    ctx.err.write(up + lines.map((l, i) => `\r\x1b[Klayer ${i + 1}/${layers} ${l}\n`).join(''))
    drawn = lines.length
  }
}

/** `1.2 MiB / 3.4 MiB [####....] 5.6 MiB/s` for a layer `started` ms ago. */
export function transfer(bytes: number, total: number, started: number): string {
  const secs = Math.max(0.001, (Date.now() - started) / 1000)
  return `${bar(bytes, total)} ${humanBytes(bytes)} / ${humanBytes(total)} ${humanBytes(bytes / secs)}/s`
}
