/**
 * Scenario 3: one byte written into the middle of a large file that lives
 * in the parent. Copy-up drivers pay the whole file; redirect-on-write pays
 * about one block.
 */
import type { Bench } from '../harness.js'
import { perDriver } from '../harness.js'
import { GiB, MiB, writeBigFile } from '../fixtures.js'
import { withOpen } from '../../fs/open.js'
import { compactStore, dataBytes, settle } from '../space.js'
import { time } from '../stats.js'
import type { Snapshotter } from '../../core/snapshotter.js'

export function bigFileSize(full: boolean): number {
  return full ? GiB : 256 * MiB
}

async function reopenCompacted(b: Bench, driver: string, root: string, sn: Snapshotter): Promise<[number, Snapshotter]> {
  await sn.close()
  await compactStore(root)
  const bytes = await dataBytes(root)
  return [bytes, await b.reopen(driver, root)]
}

export async function smallWrite(b: Bench): Promise<void> {
  const size = bigFileSize(b.opts.full)
  const label = size >= GiB ? `${size / GiB} GiB` : `${size / MiB} MiB`
  const cols = b.columns(true)
  const withPrepare = perDriver(cols)
  const writeOnly = perDriver(cols)
  const usage = perDriver(cols)
  const writeTime = perDriver(cols)
  const rounds = 2
  for (const d of cols) {
    let { root, sn } = await b.open(d, 'smallwrite')
    b.progress(`small write: ${d}: writing the ${label} file`)
    await sn.prepare('base-a')
    await withOpen(sn, 'base-a', (fs) => writeBigFile(fs, '/big', size, 'big'))
    await sn.commit('base', 'base-a')
    for (let r = 0; r < rounds; r++) {
      b.progress(`small write: ${d}: round ${r + 1}/${rounds}`)
      let before: number
      ;[before, sn] = await reopenCompacted(b, d, root, sn)
      await sn.prepare(`child-${r}`, 'base')
      let prepared: number
      ;[prepared, sn] = await reopenCompacted(b, d, root, sn)
      const usageBefore = (await sn.usage(`child-${r}`)).size
      const [ms] = await time(() =>
        withOpen(sn, `child-${r}`, async (fs) => {
          const fh = await fs.open('/big', 'r+')
          await fh.write(Buffer.from('!'), 0, 1, Math.floor(size / 2) + 12345)
          await fh.close()
        }),
      )
      writeTime[d].push(ms)
      usage[d].push((await sn.usage(`child-${r}`)).size - usageBefore)
      let after: number
      ;[after, sn] = await reopenCompacted(b, d, root, sn)
      withPrepare[d].push(after - before)
      writeOnly[d].push(after - prepared)
    }
    await sn.close()
    await b.discard(root)
    await settle()
  }
  b.record(
    '3 small write',
    `new bytes on disk: prepare + 1-byte write into a ${label} file`,
    'bytes',
    withPrepare,
    'the whole root, LevelDB compacted (its LOG and MANIFEST left out), before vs after',
  )
  b.record('3 small write', `new bytes on disk: the 1-byte write alone`, 'bytes', writeOnly)
  b.record('3 small write', 'usage() growth from the write', 'bytes', usage)
  b.record('3 small write', 'time of open + 1-byte write + close', 'ms', writeTime)
}
