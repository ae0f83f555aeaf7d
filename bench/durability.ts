/**
 * The cost of the power-cut promise (issue 20), in one run on a fresh ext4
 * and xfs (loop devices over files in the temp dir; root needed):
 *
 *   flush of a 1000-file tree:  one syncfs  vs  an fsync per file and directory
 *   per driver: prepare + apply + commit of a 1000-file and a 5000-file layer,
 *   with STRATA_FLUSH=syncfs (the default), fsync and off (no promise)
 *
 *   npm run bench:durability
 *
 * The machine is shared and noisy: compare the figures of one run, as ratios.
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import tarStream from 'tar-stream'
import { fsyncTree, syncFs } from '../core/durable.js'
import { openSnapshotter, registeredDrivers } from '../index.js'
import { applyLayer } from '../layers/index.js'

const run = promisify(execFile)

function layer(files: number): Readable {
  const pack = tarStream.pack()
  for (let d = 0; d < Math.ceil(files / 100); d++) pack.entry({ name: `d${d}/`, type: 'directory', mode: 0o755 })
  const body = Buffer.alloc(4096, 7)
  for (let n = 0; n < files; n++) pack.entry({ name: `d${Math.floor(n / 100)}/f${n}`, mode: 0o644 }, body.subarray(0, (n * 37) % 4096))
  pack.finalize()
  return Readable.from(pack as AsyncIterable<Buffer>)
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t) / 1e6
}

async function withFs<T>(kind: 'ext4' | 'xfs', work: string, fn: (mnt: string) => Promise<T>): Promise<T> {
  const img = join(work, `${kind}.img`)
  const mnt = join(work, kind)
  await mkdir(mnt)
  await run('truncate', ['-s', '2G', img])
  await run(kind === 'ext4' ? 'mkfs.ext4' : 'mkfs.xfs', kind === 'ext4' ? ['-q', '-F', img] : ['-q', '-f', img])
  const loop = (await run('losetup', ['-f', '--show', img])).stdout.trim()
  try {
    await run('mount', [loop, mnt])
    try {
      return await fn(mnt)
    } finally {
      await run('umount', [mnt])
    }
  } finally {
    await run('losetup', ['-d', loop])
    await rm(img, { force: true })
  }
}

async function flushTree(mnt: string): Promise<string[]> {
  const lines: string[] = []
  const result: Record<string, number> = {}
  for (const mode of ['syncfs', 'fsync', 'syncfs', 'fsync'] as const) {
    const dir = join(mnt, `tree-${mode}-${Math.random().toString(36).slice(2)}`)
    await mkdir(dir)
    for (let d = 0; d < 10; d++) {
      await mkdir(join(dir, `d${d}`))
      for (let n = 0; n < 100; n++) await writeFile(join(dir, `d${d}`, `f${n}`), Buffer.alloc((n * 37) % 4096, 1))
    }
    result[mode] = Math.min(result[mode] ?? Infinity, await timed(() => (mode === 'syncfs' ? syncFs(dir) : fsyncTree(dir))))
  }
  lines.push(
    `  flush of 1000 new files: syncfs ${result.syncfs.toFixed(1)} ms, fsync each ${result.fsync.toFixed(1)} ms (${(result.fsync / result.syncfs).toFixed(1)}x)`,
  )
  return lines
}

async function driverCosts(mnt: string, files: number): Promise<string[]> {
  const lines: string[] = []
  for (const driver of registeredDrivers()) {
    const row: string[] = []
    const base: Record<string, number> = {}
    for (const mode of ['off', 'syncfs', 'fsync'] as const) {
      process.env.STRATA_FLUSH = mode
      const root = join(mnt, `store-${driver}-${mode}-${files}`)
      const sn = await openSnapshotter(driver, root)
      try {
        let commit = 0
        const total = await timed(async () => {
          await sn.prepare('x')
          const fs = await sn.open('x')
          await applyLayer(fs, layer(files))
          await fs.close()
          commit = await timed(() => sn.commit('c', 'x'))
        })
        base[mode] = total
        row.push(`${mode}: apply+commit ${total.toFixed(0)} ms (commit ${commit.toFixed(0)} ms)`)
      } finally {
        await sn.close()
        await rm(root, { recursive: true, force: true })
      }
    }
    delete process.env.STRATA_FLUSH
    lines.push(
      `  ${driver.padEnd(8)} ${files} files  ${row.join('  ')}  → promise costs ${(((base.syncfs - base.off) / base.off) * 100).toFixed(0)}% (syncfs), ${(((base.fsync - base.off) / base.off) * 100).toFixed(0)}% (fsync)`,
    )
  }
  return lines
}

const work = await mkdtemp(join(tmpdir(), 'strata-bench-durability-'))
try {
  for (const kind of ['ext4', 'xfs'] as const) {
    console.log(`${kind}:`)
    await withFs(kind, work, async (mnt) => {
      for (const line of await flushTree(mnt)) console.log(line)
      for (const files of [1000, 5000]) for (const line of await driverCosts(mnt, files)) console.log(line)
    })
  }
} finally {
  await rm(work, { recursive: true, force: true })
}
