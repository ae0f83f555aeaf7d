/**
 * overlay: Docker's overlay2 layout on kernel overlayfs (root only). Each
 * snapshot stores only its own changes in diff/; `prepare` and `commit` cost
 * the same whatever the parent holds; a changed file is copied up whole.
 *
 *   <root>/overlay2/<id>/{diff,work,merged,link,lower,committed}
 *   <root>/overlay2/l/<short> -> ../<id>/diff
 *
 * `layout.ts` describes the directories, `mountopts.ts` the mounts,
 * `backend.ts` how they are made, opened and removed.
 */
import { resolve } from 'node:path'
import { InvalidArgumentError } from '../../core/errors.js'
import { openBackedSnapshotter } from '../../core/backed.js'
import { removeTree } from '../../fs/removetree.js'
import type { Snapshotter } from '../../core/snapshotter.js'
import { OverlayBackend } from './backend.js'

export interface OverlayOptions {
  /** Reserved for future use; the overlay driver has no options today. */
  readonly [key: string]: unknown
}

/** Characters overlayfs and mount(8) read as separators inside an option string. */
const UNSAFE_IN_OPTIONS = /[,:\\"\n]/

export async function createOverlaySnapshotter(root: string, _options: OverlayOptions = {}): Promise<Snapshotter> {
  if (typeof root !== 'string' || root.length === 0) throw new InvalidArgumentError('root must be a non-empty path')
  const abs = resolve(root)
  if (UNSAFE_IN_OPTIONS.test(abs)) {
    throw new InvalidArgumentError(
      `overlay root ${JSON.stringify(abs)} holds a character that would split its mount options (, : \\ " or a newline)`,
    )
  }
  return openBackedSnapshotter({
    root: abs,
    driver: 'overlay',
    backend: (store) => new OverlayBackend(store).init(),
    store: { removeTree },
  })
}
