/**
 * `commitLayer(sn, key, { parent })`: turns the changes of snapshot `key`
 * (against its own parent) into a new image layer on `parent` — the way
 * `docker commit` makes a layer of a container. The layer goes out through
 * `exportDiff` and back in through `applyLayer`, so it is exactly what the
 * OCI tar holds and its DiffID is the digest of that tar. The new committed
 * snapshot is named by its ChainID, which assumes `parent` is itself named by
 * its ChainID (an imported layer); a layer already present is reused.
 */
import type { Snapshotter } from '../core/snapshotter.js'
import { applyLayer, type ApplyResult } from './apply.js'
import { buildSnapshot } from './build.js'
import { chainIds } from './digest.js'
import { exportDiff } from './export.js'

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

export async function commitLayer(sn: Snapshotter, key: string, opts: CommitLayerOptions = {}): Promise<CommitLayerResult> {
  await sn.stat(key) // a missing key fails here, naming it, before anything is made
  const built = await buildSnapshot(
    sn,
    { purpose: 'commit-layer', parent: opts.parent, name: (applied: ApplyResult) => chainIds([applied.diffId], opts.parent)[0] },
    (fs) => applyLayer(fs, exportDiff(sn, key)),
  )
  return { ...built.result, chainId: built.name, reused: built.reused }
}
