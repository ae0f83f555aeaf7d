/**
 * Path resolution inside one snapshot, with DirFs's rules: components are
 * looked up one by one from the root, `..` stops at the root, and a
 * symlink's target is resolved again from inside the snapshot (absolute
 * targets from its root), ELOOP after 40 links.
 */
import { posixError, type PosixCode } from '../../core/errors.js'
import { splitPath } from '../../fs/path.js'
import type { Inode, Items } from './items.js'
import { ROOT_INO, getInode, lookup, mustInode } from './namespace.js'

const MAX_SYMLINKS = 40

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

/**
 * Resolves `p`. With `followLast` a final symlink is followed too. A missing
 * last component is fine (the caller may create it); a missing or
 * non-directory middle component is ENOENT or ENOTDIR.
 */
export function resolve(t: Items, syscall: string, p: string, followLast: boolean): Resolved {
  const queue = splitPath(syscall, p)
  const stack: Array<{ ino: number; name: string }> = [{ ino: ROOT_INO, name: '' }]
  let links = 0
  while (queue.length > 0) {
    const name = queue.shift()!
    if (name === '..') {
      if (stack.length > 1) stack.pop()
      continue
    }
    const dir = stack[stack.length - 1].ino
    const last = queue.length === 0
    const ent = lookup(t, dir, name)
    if (ent === undefined) {
      if (last) return { dir, name, dirs: stack.map((s) => s.ino) }
      throw posixError('ENOENT', syscall, p)
    }
    if (ent.type === 'symlink' && (!last || followLast)) {
      if (++links > MAX_SYMLINKS) throw posixError('ELOOP', syscall, p)
      const target = mustInode(t, ent.ino).target ?? ''
      if (target.startsWith('/')) stack.length = 1
      queue.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'))
      continue
    }
    if (!last && ent.type !== 'dir') throw posixError('ENOTDIR', syscall, p)
    if (last) return { ino: ent.ino, inode: mustInode(t, ent.ino), dir, name, dirs: stack.map((s) => s.ino) }
    stack.push({ ino: ent.ino, name })
  }
  const top = stack[stack.length - 1]
  const parents = stack.slice(0, -1).map((s) => s.ino)
  return { ino: top.ino, inode: getInode(t, top.ino), dir: parents.at(-1) ?? ROOT_INO, name: top.name, dirs: parents }
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
