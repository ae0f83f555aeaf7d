/**
 * What bounds row's sequential reads, without row: 256 MiB read back as
 * LevelDB values of 64 KiB, 256 KiB and 1 MiB (getSync, with and without
 * LevelDB's block cache) against pread(2) from one plain file, the layout
 * of data kept in append-only files beside LevelDB. Each byte a getSync
 * returns is copied twice (table block to a std::string, that to a new JS
 * buffer) and once more into the reader's buffer; pread copies it once.
 *
 *   node dist/bench/value-reads.js
 */
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'

const MiB = 1 << 20
const TOTAL = 256 * MiB

function key(i: number): Buffer {
  const k = Buffer.alloc(8)
  k.writeUInt32BE(i, 4)
  return k
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const ROUNDS = 5

/** MB/s of `fn` moving TOTAL bytes. */
function rate(fn: () => void): number {
  const t = process.hrtime.bigint()
  fn()
  return TOTAL / 1e6 / (Number(process.hrtime.bigint() - t) / 1e9)
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-value-reads-'))
  const data = randomBytes(MiB)
  const out = Buffer.allocUnsafe(MiB)
  const lines: string[] = []
  try {
    for (const size of [64 << 10, 256 << 10, MiB]) {
      const db = new ClassicLevel<Buffer, Buffer>(join(dir, `db-${size}`), {
        keyEncoding: 'buffer',
        valueEncoding: 'buffer',
        writeBufferSize: 64 * MiB,
      })
      await db.open()
      const n = TOTAL / size
      for (let i = 0; i < n; i += 16) {
        const ops = []
        for (let j = i; j < Math.min(n, i + 16); j++) {
          const off = (j * size) % MiB
          ops.push({ type: 'put' as const, key: key(j), value: data.subarray(off, off + size) })
        }
        await db.batch(ops)
      }
      await db.compactRange(Buffer.alloc(0), Buffer.alloc(8, 0xff))
      const read = (fillCache: boolean) => () => {
        for (let j = 0; j < n; j++) db.getSync(key(j), { fillCache })!.copy(out, (j * size) % MiB)
      }
      const got: Record<string, number[]> = { true: [], false: [] }
      read(true)()
      // The two settings alternate, so the machine's noise falls on both.
      for (let r = 0; r < ROUNDS; r++) for (const fill of [true, false]) got[String(fill)].push(rate(read(fill)))
      for (const fill of ['true', 'false']) {
        lines.push(`getSync of ${size >> 10} KiB values, fillCache ${fill}: ${median(got[fill]).toFixed(0)} MB/s (median of ${ROUNDS})`)
      }
      await db.close()
    }
    const file = join(dir, 'data')
    const fd = openSync(file, 'w+')
    for (let off = 0; off < TOTAL; off += MiB) writeSync(fd, data, 0, MiB, off)
    for (const chunk of [64 << 10, MiB]) {
      const read = () => {
        for (let off = 0; off < TOTAL; off += chunk) readSync(fd, out, 0, chunk, off)
      }
      read()
      const got = Array.from({ length: ROUNDS }, () => rate(read))
      lines.push(`pread of ${chunk >> 10} KiB from one file: ${median(got).toFixed(0)} MB/s (median of ${ROUNDS})`)
    }
    closeSync(fd)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(`${lines.join('\n')}\n`)
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
