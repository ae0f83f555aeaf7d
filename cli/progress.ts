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
