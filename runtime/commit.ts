/**
 * `commit-container`: the container layer becomes an image layer, as
 * `docker commit` makes one. Its diff against the init layer (so the
 * runtime's files stay out) is applied on the image's top layer and kept
 * under its ChainID, and a new image is recorded whose config is the old one
 * with the new DiffID and a history entry appended.
 */
import { sha256Digest } from '../layers/digest.js'
import { FailedPreconditionError } from '../core/errors.js'
import { imagesOf, type ImageRecord } from '../image/store.js'
import { commitLayer, type CommitLayerResult } from '../layers/commit.js'
import type { Snapshotter } from '../core/snapshotter.js'
import { findContainer } from './containers.js'
import { ensureStopped } from './reap.js'

export interface CommitResult {
  image: ImageRecord
  layer: CommitLayerResult
}

/** The image config with one more layer: DiffID appended, a history entry, a fresh created time. */
export function configWithLayer(
  config: Record<string, unknown> | undefined,
  diffIds: string[],
  diffId: string,
  createdBy: string,
): Record<string, unknown> {
  const base = structuredClone(config ?? { architecture: 'amd64', os: 'linux' })
  const created = new Date().toISOString()
  const history = Array.isArray(base.history) ? base.history : []
  return {
    ...base,
    created,
    rootfs: { type: 'layers', diff_ids: [...diffIds, diffId] },
    history: [...history, { created, created_by: createdBy }],
  }
}

export async function commitContainer(sn: Snapshotter, name: string, tag: string): Promise<CommitResult> {
  const ctr = await findContainer(sn, name)
  await ensureStopped(sn, ctr, 'commit')
  const source = await imagesOf(sn).get(ctr.image)
  if (!source || source.chainId !== ctr.imageLayer) {
    throw new FailedPreconditionError(
      `container ${JSON.stringify(name)}: its image ${JSON.stringify(ctr.image)} is gone or was replaced, so its layers are unknown`,
    )
  }
  const layer = await commitLayer(sn, name, ctr.imageLayer === undefined ? {} : { parent: ctr.imageLayer })
  const config = configWithLayer(source.config, source.diffIds, layer.diffId, `strata commit-container ${name}`)
  const image: ImageRecord = {
    name: tag,
    configDigest: sha256Digest(JSON.stringify(config)),
    config,
    diffIds: [...source.diffIds, layer.diffId],
    chainId: layer.chainId,
    created: Date.now(),
  }
  // The base layers keep the registry blobs they came in, so a push sends them by digest.
  if (source.blobs) image.blobs = structuredClone(source.blobs)
  await imagesOf(sn).put(image)
  return { image, layer }
}
