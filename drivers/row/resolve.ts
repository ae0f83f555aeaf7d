/**
 * Path resolution inside one snapshot: the shared chroot resolver
 * (fs/path.ts) over the snapshot's directory entries.
 */
import { posixError, type PosixCode } from '../../core/errors.js'
import { type PathLookup, resolveInRoot } from '../../fs/path.js'
import { ROOT_INO, getInode, lookupEntry, mustInode } from './namespace.js'
import type { Inode } from './format.js'
import type { Items } from './items.js'

export interface Resolved {
  /** The entry's inode number, when it exists. */
  ino?: number
  inode?: Inode | undefined
  /** The directory holding it (the root for the root itself). */
  dir: number
  /** Its name in that directory; '' for the root. */
  name: string
  /** Inode numbers of the directories from the root down to `dir`. */
  dirs: number[]
}

export type Existing = Resolved & { ino: number; inode: Inode }

/** row's entries as the shared chroot resolver (fs/path.ts) sees them. */
interface Entry {
  ino: number
  type: string
}

function lookupOf(t: Items): PathLookup<Entry> {
  return {
    root: { ino: ROOT_INO, type: 'dir' },
    child: (dir, name) => lookupEntry(t, dir.ino, name),
    linkTarget: (e) => (e.type === 'symlink' ? (mustInode(t, e.ino).target ?? '') : undefined),
    isDir: (e) => e.type === 'dir',
  }
}

/**
 * Resolves `p` (fs/path.ts resolveInRoot). With `followLast` a final symlink
 * is followed too; a missing last component has no `ino`.
 */
export function resolve(t: Items, syscall: string, p: string, followLast: boolean): Resolved {
  const w = resolveInRoot(lookupOf(t), syscall, p, followLast)
  const dirs = w.dirs.map((d) => d.ino)
  const dir = dirs.at(-1) ?? ROOT_INO
  if (w.node === undefined) return { dir, name: w.name, dirs }
  return { ino: w.node.ino, inode: w.node.ino === ROOT_INO ? getInode(t, ROOT_INO) : mustInode(t, w.node.ino), dir, name: w.name, dirs }
}

export function existing(t: Items, syscall: string, p: string, followLast: boolean): Existing {
  const r = resolve(t, syscall, p, followLast)
  if (r.ino === undefined || r.inode === undefined) throw posixError('ENOENT', syscall, p)
  return r as Existing
}

/** A path that names an entry in a directory (not the root itself). */
export function named(t: Items, syscall: string, p: string, rootCode: PosixCode): Resolved {
  const r = resolve(t, syscall, p, false)
  if (r.name === '') throw posixError(rootCode, syscall, p)
  return r
}
