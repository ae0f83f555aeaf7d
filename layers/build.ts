/**
 * Building a committed snapshot, the one way every helper does it (image
 * import, commitLayer, the runtime's init layer): prepare a work-in-progress
 * snapshot on the parent, fill it through `open()`, commit it under its final
 * name, and on any failure remove what was made. The work-in-progress
 * snapshot is marked with a label naming what it is for and which process
 * owns it, so a later cleanup can tell an abandoned one (its process died)
 * from one still being filled.
 */
import { randomBytes } from 'node:crypto'
import { cleanupAfter, isSnapshotterError } from '../core/errors.js'
import type { SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { processStart } from './owner.js'

/** Label of a work-in-progress snapshot: JSON `{ purpose, pid, target }` (see WorkInProgress). */
export const WIP_LABEL = 'strata.io/work-in-progress'

export interface WorkInProgress {
  /** What the snapshot is being built for: 'unpack', 'commit-layer', 'init', … */
  purpose: string
  /** The process building it. */
  pid: number
  /** That process's start time (clock ticks since boot, /proc/PID/stat), so a reused pid is not taken for it. */
  started?: number | undefined
  /** The name it will be committed under, when known before it is filled. */
  target?: string | undefined
}

export interface BuildOptions<R> {
  purpose: string
  parent?: string | undefined
  /** The committed snapshot's name, or how to derive it from what `fill` returned (a ChainID from a DiffID). */
  name: string | ((result: R) => string)
  /** Labels of the committed snapshot. */
  labels?: Record<string, string> | undefined
}

export interface Built<R> {
  result: R
  name: string
  /** True when a committed snapshot of that name was there already (made meanwhile, or before): it is kept. */
  reused: boolean
}

/** The work-in-progress record of a snapshot's labels; undefined for any other snapshot. */
export function workInProgress(labels: Record<string, string>): WorkInProgress | undefined {
  const raw = labels[WIP_LABEL]
  if (raw === undefined) return undefined
  try {
    const v = JSON.parse(raw) as Partial<WorkInProgress>
    return typeof v.purpose === 'string' && typeof v.pid === 'number' ? (v as WorkInProgress) : undefined
  } catch {
    return undefined
  }
}

/**
 * Prepares, fills and commits a snapshot. The work-in-progress key is
 * `strata-<purpose>-<16 hex>`: short, without spaces, never the caller's
 * name. A failure of the cleanup itself travels on the error (`suppressed`).
 */
export async function buildSnapshot<R>(sn: Snapshotter, opts: BuildOptions<R>, fill: (fs: SnapshotFs) => Promise<R>): Promise<Built<R>> {
  const key = `strata-${opts.purpose}-${randomBytes(8).toString('hex')}`
  const target = typeof opts.name === 'string' ? opts.name : undefined
  const started = processStart(process.pid)
  const wip: WorkInProgress = {
    purpose: opts.purpose,
    pid: process.pid,
    ...(started === undefined ? {} : { started }),
    ...(target === undefined ? {} : { target }),
  }
  await sn.prepare(key, opts.parent, { labels: { [WIP_LABEL]: JSON.stringify(wip) } })
  let fs: SnapshotFs | undefined
  try {
    fs = await sn.open(key)
    const result = await fill(fs)
    await fs.close()
    fs = undefined
    const name = typeof opts.name === 'string' ? opts.name : opts.name(result)
    try {
      await sn.commit(name, key, { labels: opts.labels ?? {} })
      return { result, name, reused: false }
    } catch (err) {
      if (!isSnapshotterError(err, 'ERR_ALREADY_EXISTS')) throw err
      await sn.remove(key)
      return { result, name, reused: true }
    }
  } catch (err) {
    throw await cleanupAfter(err, async () => {
      await fs?.close()
      await removeIfThere(sn, key)
    })
  }
}

/** Removes `key`; a key that does not exist (any more) is fine. */
export async function removeIfThere(sn: Snapshotter, key: string): Promise<void> {
  try {
    await sn.remove(key)
  } catch (err) {
    if (!isSnapshotterError(err, 'ERR_NOT_FOUND')) throw err
  }
}
