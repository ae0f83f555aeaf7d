/**
 * `commitLayer(sn, key, { parent })`: turns the changes of snapshot `key`
 * (against its own parent) into a new image layer on `parent` — the way
 * `docker commit` makes a layer of a container. The layer goes out through
 * `exportDiff` and back in through `applyLayer`, so it is exactly what the
 * OCI tar holds and its DiffID is the digest of that tar. The new committed
 * snapshot is named by its ChainID, which assumes `parent` is itself named by
 * its ChainID (an imported layer); a layer already present is reused.
 */
import { randomBytes } from 'node:crypto'
import { sha256Digest } from './digest.js'
import { isSnapshotterError } from '../core/errors.js'
import { applyLayer, type ApplyResult } from './apply.js'
import { exportDiff } from './export.js'
import type { SnapshotFs, Snapshotter } from '../core/snapshotter.js'

export interface CommitLayerOptions {
  /** The ChainID of the layer to stack on; none for a base layer. */
  parent?: string
}

export interface CommitLayerResult extends ApplyResult {
  /** The new layer's ChainID: the name of its committed snapshot. */
  chainId: string
  /** True when a snapshot of that ChainID was already there and is kept. */
  reused: boolean
}

/** ChainID of `diffId` stacked on the layer named `parent` (a ChainID itself). */
export function chainIdOn(parent: string | undefined, diffId: string): string {
  return parent === undefined ? diffId : sha256Digest(`${parent} ${diffId}`)
}

export async function commitLayer(sn: Snapshotter, key: string, opts: CommitLayerOptions = {}): Promise<CommitLayerResult> {
  await sn.stat(key) // a missing key fails here, naming it, before anything is made
  const tmp = `strata-layer-${randomBytes(8).toString('hex')} ${key}`
  await sn.prepare(tmp, opts.parent, { labels: { 'strata.io/committing': key } })
  let fs: SnapshotFs | undefined
  try {
    fs = await sn.open(tmp)
    const applied = await applyLayer(fs, exportDiff(sn, key))
    await fs.close()
    fs = undefined
    const chainId = chainIdOn(opts.parent, applied.diffId)
    try {
      await sn.commit(chainId, tmp)
      return { ...applied, chainId, reused: false }
    } catch (err) {
      if (!isSnapshotterError(err, 'ERR_ALREADY_EXISTS')) throw err
      await sn.remove(tmp)
      return { ...applied, chainId, reused: true }
    }
  } catch (err) {
    await fs?.close().catch(() => {})
    await sn.remove(tmp).catch(() => {})
    throw err
  }
}
