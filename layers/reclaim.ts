/**
 * Work-in-progress snapshots whose builder died. `buildSnapshot` marks the
 * snapshot it fills with its pid and that process's start time; a process
 * killed with SIGKILL (or a crash) cannot remove it, so `reclaimAbandoned`
 * does, once the owner is gone. The start time guards against pid reuse: a
 * new process that got the same pid is not the owner. This is the layers
 * package's own cleanup step: core's `cleanup()` knows nothing of layers, so
 * call this beside it (`strata cleanup` does both).
 */
import type { Snapshotter } from '../core/snapshotter.js'
import { removeIfThere, WIP_LABEL, type WorkInProgress, workInProgress } from './build.js'
import { ownerAlive } from './owner.js'

export interface AbandonedWork extends WorkInProgress {
  key: string
}

/** Work-in-progress snapshots no live process owns: what `reclaimAbandoned` would remove. */
export async function abandonedWork(sn: Snapshotter): Promise<AbandonedWork[]> {
  const out: AbandonedWork[] = []
  for await (const info of sn.walk([`labels."${WIP_LABEL}"`])) {
    const wip = workInProgress(info.labels)
    if (wip !== undefined && info.kind !== 'committed' && !ownerAlive(wip)) out.push({ key: info.name, ...wip })
  }
  return out
}

/** Removes the abandoned work-in-progress snapshots; returns them. Run `cleanup()` after to free their data. */
export async function reclaimAbandoned(sn: Snapshotter): Promise<AbandonedWork[]> {
  const gone = await abandonedWork(sn)
  for (const w of gone) await removeIfThere(sn, w.key)
  return gone
}
