/**
 * Scenario 8 (`--full`, or `npm run bench:debian`): import of a real Debian
 * bookworm minbase image (bench/debian.ts, three layers, a docker-archive)
 * per driver beside containerd 1.6's overlayfs and native snapshotters,
 * rounds interleaved, each import timed with the `sync` that makes it
 * durable. Then, on the imported image: prepare of a container (native
 * against `cp -a` of the same tree) and disk use (row also once compacted,
 * against the bytes of file content the three layers carry).
 */
import { execFile } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { importImage, openImage } from '../../image/import.js'
import { chainIds } from '../../layers/digest.js'
import { removeTree } from '../../fs/removetree.js'
import type { Bench } from '../harness.js'
import { perDriver } from '../harness.js'
import { debianImage } from '../debian.js'
import { type CtrSnapshotter, isPeer } from '../peer/containerd.js'
import { allocatedBytes, compactStore, settle } from '../space.js'
import { median, time } from '../stats.js'

const run = promisify(execFile)
const CP = 'cp -a'
const S = '8 debian'

/** Where a containerd snapshotter keeps its trees (the content store beside it is left out). */
function peerSnapshots(root: string, column: string): string {
  return join(root, `io.containerd.snapshotter.v1.${column.slice('containerd:'.length)}`)
}

function ratio(samples: Record<string, number[]>, pairs: Array<[string, string]>): Record<string, number[] | null> {
  const out: Record<string, number[] | null> = {}
  for (const [col, ref] of pairs) {
    if (!(col in samples)) continue
    const a = samples[col]?.length ? median(samples[col]) : NaN
    const b = samples[ref]?.length ? median(samples[ref]) : NaN
    out[col] = Number.isFinite(a) && b > 0 ? [a / b] : null
  }
  return out
}

export async function debian(b: Bench): Promise<void> {
  let image: Awaited<ReturnType<typeof debianImage>>
  try {
    image = await debianImage((m) => b.progress(m))
  } catch (err) {
    b.record(
      S,
      'Debian image import',
      'ms',
      Object.fromEntries(b.drivers.map((d) => [d, null])),
      `n/a: the Debian image could not be built (${(err as Error).message.split('\n')[0]}); it needs root, debootstrap, umoci, skopeo and the mirror once`,
    )
    return
  }
  const source = await openImage(image.archive)
  const ids = chainIds(source.config.rootfs.diff_ids)
  await source.close()
  const top = ids.at(-1)!
  const cols = b.columns(true)
  const importMs = perDriver(cols)
  const prepareMs = perDriver([...cols, CP])
  const disk = perDriver(cols)
  const compacted = perDriver(['row'].filter((d) => cols.includes(d)))
  const scratch = await mkdtemp(join(await b.tmp(), 'debian-'))
  await settle(500)
  await b.rounds(b.opts.rounds, cols, async (c, r) => {
    b.progress(`debian: import, ${c}, round ${r + 1}`)
    const { root, sn } = await b.open(c, 'debian')
    try {
      const [ms] = await time(async () => {
        if (isPeer(c)) await (sn as CtrSnapshotter).importArchive(image.archive)
        else await importImage(sn, image.archive)
        await run('sync')
      })
      importMs[c].push(ms)
      const prepare = async (): Promise<void> => {
        await settle(500)
        prepareMs[c].push((await time(() => sn.prepare(`ctr-${r}`, top)))[0])
      }
      if (c !== 'native') await prepare()
      else {
        // The same tree copied by cp -a, the two in turns (first one, then the other), each on a
        // settled disk. A view of native copies nothing: its mount is a read-only bind of the tree.
        const src = (await sn.view(`cp-src-${r}`, top))[0].source
        const dst = join(scratch, `cp-${r}`)
        const cp = async (): Promise<void> => {
          await settle(500)
          prepareMs[CP].push((await time(() => run('cp', ['-a', src, dst])))[0])
        }
        for (const step of r % 2 === 0 ? [prepare, cp] : [cp, prepare]) await step()
        await removeTree(dst)
        await sn.remove(`cp-src-${r}`)
      }
      await sn.remove(`ctr-${r}`)
      await run('sync')
      disk[c].push(await allocatedBytes(isPeer(c) ? peerSnapshots(root, c) : root))
    } finally {
      await sn.close()
    }
    if (c === 'row') {
      await compactStore(root)
      compacted[c].push(await allocatedBytes(root))
    }
    await b.discard(root)
    await settle(500)
  })
  await removeTree(scratch)
  const notePeer = 'containerd columns: `ctr images import` of the same docker-archive (one ctr process, content store ingest included)'
  b.record(S, `import of Debian ${image.entries} paths, 3 layers, with sync`, 'ms', importMs, notePeer)
  b.record(
    S,
    'import vs containerd (row, overlay: overlayfs; native: native)',
    'ratio',
    ratio(importMs, [
      ['row', 'containerd:overlayfs'],
      ['overlay', 'containerd:overlayfs'],
      ['native', 'containerd:native'],
    ]),
  )
  b.record(S, 'prepare of a container on the image', 'ms', prepareMs, 'containerd columns: through ctr (two processes: prepare and label)')
  b.record(S, 'prepare: native / cp -a of the same tree', 'ratio', ratio(prepareMs, [['native', CP]]))
  b.record(
    S,
    'disk after import',
    'bytes',
    disk,
    'containerd columns: the snapshotter directory alone (its content store holds the blobs again)',
  )
  b.record(S, 'row disk once compacted', 'bytes', compacted)
  b.record(S, 'image content (file bytes over the 3 layers)', 'bytes', { content: [image.contentBytes] })
  b.record(S, 'row compacted / image content', 'ratio', {
    row: compacted.row?.length ? [median(compacted.row) / image.contentBytes] : null,
  })
}
