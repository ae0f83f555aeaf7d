/**
 * Scenario 5: layers. Apply of a layer of 1,000 small files (5,000 with --full), against
 * GNU tar extracting the same tar in the same run; export of a container's
 * 100 changes from a 2,000-file image (10,000 with --full), the driver's O(changes) listing
 * against the generic walk of both trees; and import of a busybox image,
 * against `tar -xzf` of its blobs and containerd's `ctr images import`.
 */
import { execFile } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { mkdir, mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { applyLayer } from '../../layers/apply.js'
import { exportDiff } from '../../layers/export.js'
import { importImage } from '../../image/import.js'
import type { Snapshotter } from '../../core/snapshotter.js'
import { removeTree } from '../../fs/removetree.js'
import type { Bench } from '../harness.js'
import { perDriver } from '../harness.js'
import { withOpen } from '../../fs/open.js'
import { makeBusyboxImage, makeManyFilesTar } from '../images.js'
import { type CtrSnapshotter, isPeer } from '../peer/containerd.js'
import { settle } from '../space.js'
import { median, time } from '../stats.js'

const run = promisify(execFile)
export const GNU_TAR = 'GNU tar'

/** Milliseconds GNU tar takes to extract `tars` (in order) into a fresh directory under `scratch`. */
async function tarExtract(scratch: string, tars: string[], mode = '-xf'): Promise<number> {
  const out = await mkdtemp(join(scratch, 'tar-x-'))
  const [ms] = await time(async () => {
    for (const t of tars) await run('tar', ['--numeric-owner', '-p', '-C', out, mode, t])
  })
  await removeTree(out)
  return ms
}

/** Bytes of a stream, counted and dropped. */
async function drain(stream: NodeJS.ReadableStream): Promise<number> {
  let n = 0
  await pipeline(
    stream,
    new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        n += chunk.length
        cb()
      },
    }),
  )
  return n
}

function ratioTo(samples: Record<string, number[]>, ref: string): Record<string, number[] | null> {
  const base = samples[ref]?.length ? median(samples[ref]) : NaN
  return Object.fromEntries(
    Object.entries(samples)
      .filter(([c]) => c !== ref)
      .map(([c, xs]) => [c, xs.length && base > 0 ? [median(xs) / base] : null]),
  )
}

async function applyVsTar(b: Bench, scratch: string): Promise<void> {
  const files = b.opts.full ? 5000 : 1000
  b.progress(`layers: writing a layer of ${files} files`)
  const tar = await makeManyFilesTar(await mkdtemp(join(scratch, 'many-')), files)
  const cols = [...b.drivers, GNU_TAR]
  const ms = perDriver(cols)
  await b.rounds(b.opts.rounds, cols, async (c, r) => {
    b.progress(`layers: apply of ${files} files: ${c}, round ${r + 1}`)
    if (c === GNU_TAR) {
      ms[c].push(await tarExtract(scratch, [tar]))
      return
    }
    const { root, sn } = await b.open(c, 'apply')
    await sn.prepare('x')
    await withOpen(sn, 'x', async (fs) => {
      ms[c].push((await time(() => applyLayer(fs, createReadStream(tar))))[0])
    })
    await sn.close()
    await b.discard(root)
  })
  b.record('5 layers', `apply of a ${files}-file layer`, 'ms', ms)
  b.record('5 layers', `apply of a ${files}-file layer / GNU tar -x`, 'ratio', ratioTo(ms, GNU_TAR))
}

/** 100 changes on a container of a `files`-file image: 60 rewritten, 20 deleted, 20 new (10 in a new directory). */
async function change100(sn: Snapshotter, key: string, files: number): Promise<void> {
  const path = (i: number) => {
    const k = i * Math.floor(files / 80)
    return `/d${Math.floor(k / 100)}/f${k}`
  }
  await withOpen(sn, key, async (fs) => {
    for (let i = 0; i < 60; i++) await fs.writeFile(path(i), `changed ${i}`)
    for (let i = 60; i < 80; i++) await fs.unlink(path(i))
    for (let i = 0; i < 10; i++) await fs.writeFile(`/d${i}/new-${i}`, `new ${i}`)
    await fs.mkdir('/added')
    for (let i = 0; i < 9; i++) await fs.writeFile(`/added/n${i}`, `n ${i}`)
  })
}

async function exportFastVsGeneric(b: Bench, scratch: string): Promise<void> {
  const files = b.opts.full ? 10_000 : 2000
  b.progress(`layers: writing a ${files}-file image layer`)
  const tar = await makeManyFilesTar(await mkdtemp(join(scratch, 'image-')), files, () => 512)
  const fast = perDriver(b.drivers)
  const generic = perDriver(b.drivers)
  const size = perDriver(b.drivers)
  for (const d of b.drivers) {
    b.progress(`layers: export of 100 changes from ${files} files: ${d}`)
    const { root, sn } = await b.open(d, 'export')
    await sn.prepare('image-a')
    await withOpen(sn, 'image-a', (fs) => applyLayer(fs, createReadStream(tar)))
    await sn.commit('image', 'image-a')
    await sn.prepare('ctr', 'image')
    await change100(sn, 'ctr', files)
    const hasFast = 'changes' in sn && (sn as { changes?: unknown }).changes !== undefined
    for (let r = 0; r < Math.min(2, b.opts.rounds); r++) {
      const [g, bytes] = await time(() => drain(exportDiff(sn, 'ctr', { generic: true })))
      generic[d].push(g)
      size[d].push(bytes)
      if (hasFast) fast[d].push((await time(() => drain(exportDiff(sn, 'ctr'))))[0])
    }
    await sn.close()
    await b.discard(root)
  }
  const fastOrNull = Object.fromEntries(b.drivers.map((d) => [d, fast[d].length ? fast[d] : null]))
  const ratio = Object.fromEntries(
    b.drivers.map((d) => {
      return [d, fast[d].length ? [median(generic[d]) / median(fast[d])] : null]
    }),
  )
  b.record(
    '5 layers',
    `export of 100 changes from a ${files}-file image: driver's change list`,
    'ms',
    fastOrNull,
    'n/a: the driver lists no changes of its own (native), so export compares both trees',
  )
  b.record('5 layers', `export of 100 changes from a ${files}-file image: generic tree walk`, 'ms', generic)
  b.record('5 layers', 'export: generic walk / change list', 'ratio', ratio)
  b.record('5 layers', 'export: size of the layer tar', 'bytes', size)
}

async function imageImport(b: Bench, scratch: string): Promise<void> {
  b.progress('layers: building a busybox image')
  const dir = await mkdtemp(join(scratch, 'busybox-'))
  let image: Awaited<ReturnType<typeof makeBusyboxImage>>
  try {
    image = await makeBusyboxImage(dir)
  } catch (err) {
    b.record(
      '5 layers',
      'busybox image import',
      'ms',
      Object.fromEntries(b.drivers.map((d) => [d, null])),
      `n/a: no busybox to build the image from (${(err as Error).message.split('\n')[0]}); apt-get install busybox-static`,
    )
    return
  }
  const archive = join(dir, 'busybox-oci.tar')
  await run('tar', ['-C', image.layout, '-cf', archive, '.'])
  const cols = [...b.columns(true), GNU_TAR]
  const ms = perDriver(cols)
  await b.rounds(b.opts.rounds, cols, async (c, r) => {
    b.progress(`layers: busybox import: ${c}, round ${r + 1}`)
    if (c === GNU_TAR) {
      // The gzip blobs, as an import has to read them.
      ms[c].push(await tarExtract(scratch, image.blobs, '-xzf'))
      return
    }
    const { root, sn } = await b.open(c, 'import')
    if (isPeer(c)) {
      ms[c].push((await time(() => (sn as CtrSnapshotter).importArchive(archive)))[0])
    } else {
      ms[c].push((await time(() => importImage(sn, image.layout)))[0])
    }
    await sn.close()
    await b.discard(root)
  })
  b.record(
    '5 layers',
    'busybox image import (2 gzip layers)',
    'ms',
    ms,
    'containerd columns: `ctr images import` of the same image as an OCI archive (one ctr process included)',
  )
  b.record('5 layers', 'busybox image import / GNU tar -xzf', 'ratio', ratioTo(ms, GNU_TAR))
}

export async function layers(b: Bench): Promise<void> {
  const scratch = join(await b.tmp(), 'layers')
  await mkdir(scratch, { recursive: true })
  await applyVsTar(b, scratch)
  await settle(500)
  await exportFastVsGeneric(b, scratch)
  await imageImport(b, scratch)
  await removeTree(scratch)
}
