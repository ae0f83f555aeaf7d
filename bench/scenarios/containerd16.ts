/**
 * Scenario 6: containerd's own benchmark (core/snapshots/benchsuite): a chain
 * of 16 layers, each touching ten 1 MiB files a…j — modified in place by 4
 * bytes, recreated, removed or created depending on the layer — timing
 * prepare, write and commit separately.
 */
import type { Bench } from '../harness.js'
import { perDriver } from '../harness.js'
import { bytes, MiB } from '../fixtures.js'
import { withOpen } from '../../fs/open.js'
import type { SnapshotFs } from '../../core/snapshotter.js'
import { time } from '../stats.js'

const FILES = 'abcdefghij'.split('')

/** What layer i does to the ten files, as containerd's benchsuite lays it out. */
export async function applyLayer16(fs: SnapshotFs, i: number): Promise<void> {
  const create = (f: string) => fs.writeFile(`/${f}`, bytes(`${f}${i}`, MiB))
  const modify = async (f: string) => {
    const fh = await fs.open(`/${f}`, 'r+')
    await fh.write(Buffer.from('abcd'), 0, 4, MiB / 2)
    await fh.close()
  }
  const remove = (f: string) => fs.unlink(`/${f}`)
  if (i === 0) {
    for (const f of FILES) await create(f)
  } else if (i % 3 === 0) {
    for (const f of 'abdei') await modify(f)
    for (const f of 'cfhj') await create(f)
    await remove('g')
  } else if (i % 2 === 0) {
    for (const f of 'aehj') await modify(f)
    for (const f of 'bdgi') await create(f)
    for (const f of 'cf') await remove(f)
  } else {
    for (const f of FILES) await create(f)
  }
}

export async function containerd16(b: Bench): Promise<void> {
  const cols = b.columns(true)
  const prepare = perDriver(cols)
  const write = perDriver(cols)
  const commit = perDriver(cols)
  const total = perDriver(cols)
  await b.rounds(1, cols, async (d) => {
    b.progress(`16 layers: ${d}`)
    const { root, sn } = await b.open(d, 'c16')
    let parent: string | undefined
    let sum = 0
    for (let i = 0; i < 16; i++) {
      const [p] = await time(() => sn.prepare(`l${i}-a`, parent))
      const [w] = await time(() => withOpen(sn, `l${i}-a`, (fs) => applyLayer16(fs, i)))
      const [c] = await time(() => sn.commit(`l${i}`, `l${i}-a`))
      prepare[d].push(p)
      write[d].push(w)
      commit[d].push(c)
      sum += p + w + c
      parent = `l${i}`
    }
    total[d].push(sum)
    await sn.close()
    await b.discard(root)
  })
  b.record('6 containerd 16 layers', 'prepare, per layer', 'ms', prepare)
  b.record('6 containerd 16 layers', 'write, per layer', 'ms', write)
  b.record('6 containerd 16 layers', 'commit, per layer', 'ms', commit)
  b.record('6 containerd 16 layers', 'whole chain', 'ms', total)
}
