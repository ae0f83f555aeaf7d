/**
 * Removing images, and what keeps a layer alive. A layer (a committed
 * snapshot named by its ChainID) is needed while an image's chain passes
 * through it or another snapshot has it as parent; `removeImage` forgets the
 * name and removes, from the top down, the layers nothing needs any more.
 * Because a ChainID names the whole chain below it, the chains are the
 * reference counts: a layer two images share stays until both are gone.
 */
import { FailedPreconditionError, isSnapshotterError } from '../core/errors.js'
import type { Snapshotter } from '../core/snapshotter.js'
import { chainIds } from '../layers/digest.js'
import { type ImageRecord, imagesOf } from './store.js'

export interface RemoveImageResult {
  name: string
  /** The layers removed with it, top first. */
  removed: string[]
}

/** The images whose layer chain passes through snapshot `name`. */
export async function imagesUsing(sn: Snapshotter, name: string): Promise<ImageRecord[]> {
  return (await imagesOf(sn).list()).filter((r) => chainIds(r.diffIds).includes(name))
}

/**
 * Refuses, with ERR_FAILED_PRECONDITION naming the images, to let `name` go
 * while an image uses it. What `strata rm` asks before it removes a snapshot.
 */
export async function assertNoImageUses(sn: Snapshotter, name: string): Promise<void> {
  const users = await imagesUsing(sn, name)
  if (users.length > 0) {
    const names = users.map((r) => JSON.stringify(r.name)).join(', ')
    throw new FailedPreconditionError(`snapshot ${JSON.stringify(name)} is a layer of image ${names}: remove the image first (strata rmi)`)
  }
}

/**
 * Removes image `name` (missing: ERR_NOT_FOUND) and the layers of its chain
 * that no other image and no other snapshot needs. The record goes first, so
 * a failure half-way leaves only unreferenced layers, which a second
 * `removeImage` cannot reach but `strata rm` can; the error says which.
 */
export async function removeImage(sn: Snapshotter, name: string): Promise<RemoveImageResult> {
  const store = imagesOf(sn)
  const rec = await store.get(name)
  if (rec === undefined) await store.delete(name) // throws the store's ERR_NOT_FOUND
  const chain = chainIds(rec?.diffIds ?? [])
  // Read the others after the record is gone: the label fallback keeps the record on the top layer.
  await store.delete(name)
  const kept = new Set((await store.list()).flatMap((r) => chainIds(r.diffIds)))
  const removed: string[] = []
  for (const id of chain.reverse()) {
    if (kept.has(id)) break // another image's chain: everything below is its too
    try {
      await sn.remove(id)
      removed.push(id)
    } catch (err) {
      if (isSnapshotterError(err, 'ERR_NOT_FOUND')) continue
      // A child (a container, a commit on top) still needs it, and so everything below.
      if (isSnapshotterError(err, 'ERR_FAILED_PRECONDITION')) break
      throw err
    }
  }
  return { name, removed }
}

/** One line per image whose chain has a layer the store lacks: such an image cannot be run. */
export async function checkImages(sn: Snapshotter): Promise<string[]> {
  const problems: string[] = []
  for (const rec of await imagesOf(sn).list()) {
    const chain = chainIds(rec.diffIds)
    for (const [i, id] of chain.entries()) {
      try {
        const info = await sn.stat(id)
        if (info.kind === 'committed') continue
      } catch (err) {
        if (!isSnapshotterError(err, 'ERR_NOT_FOUND')) throw err
      }
      problems.push(`image ${JSON.stringify(rec.name)} layer ${i + 1} of ${chain.length}: ${id} (DiffID ${rec.diffIds[i]})`)
    }
  }
  return problems
}
