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
  /** Asked for an image that is neither a tag in the store nor a path (the CLI pulls it from a registry). */
  fetch?: (sn: Snapshotter, image: string) => Promise<ImageRecord | undefined>
}

/** A tag in the store wins over a file of that name; a path is imported first; anything else goes to `fetch`. */
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
    const { fetch: _fetch, ...importOpts } = opts
    const imported = await importImage(sn, image, importOpts)
    const rec = await images.get(imported.name)
    if (rec) return rec
  } else if (opts.fetch) {
    const fetched = await opts.fetch(sn, image)
    if (fetched) return fetched
  }
  throw new NotFoundError(`image ${JSON.stringify(image)} does not exist: not a tag in the store (strata images) nor a path to an image`)
}
