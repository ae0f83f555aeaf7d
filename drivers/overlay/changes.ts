/**
 * The changes of an overlay snapshot, read from its diff/ alone in
 * O(entries of diff/), with one lstat in the parent's tree per entry:
 *
 * - a 0/0 character device is a whiteout: `delete`;
 * - a directory with `trusted.overlay.opaque=y` is `opaque` (its contents
 *   follow as `add`: the lower layers are hidden there);
 * - any other entry is `modify` when the parent's tree has the path, else
 *   `add` (a directory copied up because something below it changed is a
 *   `modify`, as the Change contract wants).
 *
 * The parent's tree is looked up one directory level at a time and only below
 * directories that are real directories there, so no lookup ever follows a
 * symlink of the lower layers. Order: a directory before its contents, names
 * in sorted order.
 */
import type { Stats } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { errnoCode } from '../../core/errors.js'
import type { Change } from '../../core/snapshotter.js'
import { opaqueDirs } from './opaque.js'

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path)
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined
    throw err
  }
}

async function names(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort()
}

interface Walk {
  diff: string
  /** The parent's tree (its diff, or its read-only overlay mount), if it has one. */
  lower?: string | undefined
  opaque: Set<string>
}

/** `diff`'s changes against the tree at `lower` (undefined: a snapshot without parent). */
export async function* diffChanges(diff: string, lower: string | undefined): AsyncGenerator<Change> {
  const w: Walk = { diff, lower, opaque: await opaqueDirs(diff) }
  yield* walkDir(w, '', lower !== undefined)
}

/**
 * The changes under `rel`. `lowerHasDir` says the parent's tree has `rel` as
 * a directory whose contents show through; when false, everything is new.
 */
async function* walkDir(w: Walk, rel: string, lowerHasDir: boolean): AsyncGenerator<Change> {
  const upper = await names(join(w.diff, rel))
  // An opaque root has no entry to carry the flag: what it hides is deleted or replaced explicitly.
  const opaqueRoot = rel === '' && lowerHasDir && w.opaque.has('')
  const hidden = new Set(opaqueRoot ? await names(w.lower!) : [])
  const inUpper = new Set(upper)
  for (const name of [...new Set([...upper, ...hidden])].sort()) {
    const r = rel === '' ? name : `${rel}/${name}`
    const path = `/${r}`
    if (!inUpper.has(name)) {
      yield { path, kind: 'delete' }
      continue
    }
    const shows = opaqueRoot ? hidden.has(name) : lowerHasDir
    const st = await lstat(join(w.diff, r))
    if (isWhiteout(st)) {
      // Where nothing shows through, a whiteout hides nothing.
      if (shows) yield { path, kind: 'delete' }
      continue
    }
    const below = shows ? await lstatOrUndefined(join(w.lower!, r)) : undefined
    const opaque = st.isDirectory() && (w.opaque.has(r) || (opaqueRoot && below !== undefined))
    yield opaque ? { path, kind: below ? 'modify' : 'add', opaque } : { path, kind: below ? 'modify' : 'add' }
    if (st.isDirectory()) yield* walkDir(w, r, !opaque && below?.isDirectory() === true)
  }
}
