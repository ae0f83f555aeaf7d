/**
 * Scenario 1: snapshot operations against the size of the parent. The
 * headline is the ratio large/small: 1× means O(1), the size ratio means
 * O(size).
 */
import type { Bench } from '../harness.js'
import { perDriver } from '../harness.js'
import { committedTree, GiB, MiB, treeOfSize } from '../fixtures.js'
import { time } from '../stats.js'
import type { Snapshotter } from '../../core/snapshotter.js'

export const OPS = ['prepare', 'open', 'commit', 'view', 'remove'] as const
type Op = (typeof OPS)[number]

export function parentSizes(full: boolean): number[] {
  return full ? [10 * MiB, 100 * MiB, GiB] : [10 * MiB, 100 * MiB]
}

export function sizeLabel(n: number): string {
  return n >= GiB ? `${n / GiB} GiB` : `${n / MiB} MiB`
}

/** One round of every operation on a parent; returns the time of each. */
async function cycle(sn: Snapshotter, parent: string, tag: string): Promise<Record<Op, number>> {
  const [prepare] = await time(() => sn.prepare(`a-${tag}`, parent))
  const [open] = await time(async () => (await sn.open(`a-${tag}`)).close())
  const [commit] = await time(() => sn.commit(`c-${tag}`, `a-${tag}`))
  const [view] = await time(() => sn.view(`v-${tag}`, parent))
  await sn.remove(`v-${tag}`)
  const [remove] = await time(() => sn.remove(`c-${tag}`))
  return { prepare, open, commit, view, remove }
}

export async function opsVsParentSize(b: Bench): Promise<void> {
  const sizes = parentSizes(b.opts.full)
  const cols = b.columns(true)
  const stores = new Map<string, { root: string; sn: Snapshotter }>()
  for (const d of cols) {
    const store = await b.open(d, 'ops')
    stores.set(d, store)
    for (const size of sizes) {
      b.progress(`ops: ${d}: writing a ${sizeLabel(size)} parent`)
      await committedTree(store.sn, `p-${size}`, treeOfSize(size, 7))
    }
  }
  const samples = new Map<string, Record<string, number[]>>()
  for (const size of sizes) for (const op of OPS) samples.set(`${op}@${size}`, perDriver(cols))
  const rounds = Math.max(3, b.opts.rounds)
  await b.rounds(rounds, cols, async (d, r) => {
    b.progress(`ops: round ${r + 1}/${rounds}: ${d}`)
    for (const size of sizes) {
      const t = await cycle(stores.get(d)!.sn, `p-${size}`, `${size}-${r}`)
      for (const op of OPS) samples.get(`${op}@${size}`)![d].push(t[op])
    }
  })
  const small = sizes[0]
  const large = sizes[sizes.length - 1]
  for (const op of OPS) {
    for (const size of sizes) b.record('1 ops', `${op}, ${sizeLabel(size)} parent`, 'ms', samples.get(`${op}@${size}`)!)
    const ratio: Record<string, number[]> = {}
    for (const d of cols) {
      const lo = samples.get(`${op}@${small}`)![d]
      const hi = samples.get(`${op}@${large}`)![d]
      ratio[d] = hi.map((h, i) => h / lo[i])
    }
    b.record('1 ops', `${op}: ${sizeLabel(large)} / ${sizeLabel(small)} parent`, 'ratio', ratio, '1× is O(1); the size ratio is O(size)')
  }
  for (const { root, sn } of stores.values()) {
    await sn.close()
    await b.discard(root)
  }
}
