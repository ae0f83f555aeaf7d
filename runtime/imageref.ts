/** What `strata run IMAGE` names: an image in the store by tag, else a path to import. */
import { stat } from 'node:fs/promises'
import { NotFoundError } from '../core/errors.js'
import { importImage, type ImportProgress } from '../image/import.js'
import { imagesOf, type ImageRecord } from '../image/store.js'
import type { Snapshotter } from '../core/snapshotter.js'

export interface ResolveOptions {
  onProgress?: (p: ImportProgress) => void
  /** The tag to import a path under. */
  tag?: string
}

/** A tag in the store wins over a file of that name; a path is imported first. */
export async function resolveImage(sn: Snapshotter, image: string, opts: ResolveOptions = {}): Promise<ImageRecord> {
  const images = imagesOf(sn)
  const known = await images.get(image)
  if (known) return known
  if (
    await stat(image).then(
      () => true,
      () => false,
    )
  ) {
    const imported = await importImage(sn, image, opts)
    const rec = await images.get(imported.name)
    if (rec) return rec
  }
  throw new NotFoundError(`image ${JSON.stringify(image)} does not exist: not a tag in the store (strata images) nor a path to an image`)
}
