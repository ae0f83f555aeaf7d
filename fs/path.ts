/**
 * Argument rules every SnapshotFs shares (pure, no I/O): path syntax and the
 * numeric arguments of I/O calls. Bad input is EINVAL, named by the path.
 */
import { posixError } from '../core/errors.js'

/** Path components of `p`, without '' and '.'; '..' is left for the resolver. */
export function splitPath(syscall: string, p: string): string[] {
  if (typeof p !== 'string') throw posixError('EINVAL', syscall, String(p))
  if (p.includes('\0')) throw posixError('EINVAL', syscall, p)
  if (p.length === 0) throw posixError('ENOENT', syscall, p)
  const parts = p.split('/').filter((s) => s !== '' && s !== '.')
  for (const part of parts) if (Buffer.byteLength(part) > 255) throw posixError('ENAMETOOLONG', syscall, p)
  return parts
}

export function isUint(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

export function checkMode(syscall: string, p: string, mode: unknown): void {
  if (!isUint(mode) || mode > 0o7777) throw posixError('EINVAL', syscall, p)
}

export function checkOwner(syscall: string, p: string, uid: unknown, gid: unknown): void {
  if (!isUint(uid) || !isUint(gid) || uid > 0xfffffffe || gid > 0xfffffffe) throw posixError('EINVAL', syscall, p)
}

/** A time argument: finite milliseconds (number) or nanoseconds (bigint). */
export function checkTime(syscall: string, p: string, t: unknown): void {
  if (typeof t === 'bigint') return
  if (typeof t !== 'number' || !Number.isFinite(t)) throw posixError('EINVAL', syscall, p)
}

export function checkLength(syscall: string, p: string, len: unknown): void {
  if (!isUint(len)) throw posixError('EINVAL', syscall, p)
}

/** Symlinks one resolution follows before it gives up with ELOOP, as Linux does. */
const MAX_SYMLINKS = 40

/** How a resolver looks at one file system's entries (host paths for DirFs, inodes for row). */
export interface PathLookup<N> {
  readonly root: N
  /** The entry `name` in directory `dir`; undefined when it does not exist. */
  child(dir: N, name: string): N | undefined
  /** A symlink's target; undefined for anything that is not a symlink. */
  linkTarget(node: N): string | undefined
  isDir(node: N): boolean
}

export interface Walked<N> {
  /** The entry, when it exists. */
  node?: N | undefined
  /** Its name in its directory; '' for the root itself. */
  name: string
  /** The directories from the root down to the one holding the entry; empty for the root itself. */
  dirs: N[]
}

/**
 * Resolves `p` inside a root as under chroot: components are looked up one
 * by one, `..` stops at the root, and a symlink's target is resolved again
 * from inside the root (absolute targets from the root itself), ELOOP after
 * 40 links. With `followLast` a final symlink is followed too. A missing last
 * component is fine (the caller may create it); a missing or non-directory
 * middle component is ENOENT or ENOTDIR.
 */
export function resolveInRoot<N>(look: PathLookup<N>, syscall: string, p: string, followLast: boolean): Walked<N> {
  const queue = splitPath(syscall, p)
  const stack: Array<{ node: N; name: string }> = [{ node: look.root, name: '' }]
  let links = 0
  while (queue.length > 0) {
    const name = queue.shift()!
    if (name === '..') {
      if (stack.length > 1) stack.pop()
      continue
    }
    const last = queue.length === 0
    const node = look.child(stack[stack.length - 1].node, name)
    if (node === undefined) {
      if (last) return { name, dirs: stack.map((s) => s.node) }
      throw posixError('ENOENT', syscall, p)
    }
    const target = !last || followLast ? look.linkTarget(node) : undefined
    if (target !== undefined) {
      if (++links > MAX_SYMLINKS) throw posixError('ELOOP', syscall, p)
      if (target.startsWith('/')) stack.length = 1
      queue.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'))
      continue
    }
    if (!last && !look.isDir(node)) throw posixError('ENOTDIR', syscall, p)
    if (last) return { node, name, dirs: stack.map((s) => s.node) }
    stack.push({ node, name })
  }
  const top = stack[stack.length - 1]
  return { node: top.node, name: top.name, dirs: stack.slice(0, -1).map((s) => s.node) }
}

/** A PathLookup whose lookups wait on I/O (DirFs: lstat and readlink of host files). */
export interface AsyncPathLookup<N> {
  readonly root: N
  child(dir: N, name: string): Promise<N | undefined>
  linkTarget(node: N): Promise<string | undefined>
  isDir(node: N): boolean
}

/**
 * resolveInRoot with asynchronous lookups, the same rules step for step. A
 * process may serve the directory it resolves in (a FUSE mount of its own,
 * see core/fuse): a synchronous lstat would block the loop that must answer it.
 */
export async function resolveInRootAsync<N>(look: AsyncPathLookup<N>, syscall: string, p: string, followLast: boolean): Promise<Walked<N>> {
  const queue = splitPath(syscall, p)
  const stack: Array<{ node: N; name: string }> = [{ node: look.root, name: '' }]
  let links = 0
  while (queue.length > 0) {
    const name = queue.shift()!
    if (name === '..') {
      if (stack.length > 1) stack.pop()
      continue
    }
    const last = queue.length === 0
    const node = await look.child(stack[stack.length - 1].node, name)
    if (node === undefined) {
      if (last) return { name, dirs: stack.map((s) => s.node) }
      throw posixError('ENOENT', syscall, p)
    }
    const target = !last || followLast ? await look.linkTarget(node) : undefined
    if (target !== undefined) {
      if (++links > MAX_SYMLINKS) throw posixError('ELOOP', syscall, p)
      if (target.startsWith('/')) stack.length = 1
      queue.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'))
      continue
    }
    if (!last && !look.isDir(node)) throw posixError('ENOTDIR', syscall, p)
    if (last) return { node, name, dirs: stack.map((s) => s.node) }
    stack.push({ node, name })
  }
  const top = stack[stack.length - 1]
  return { node: top.node, name: top.name, dirs: stack.slice(0, -1).map((s) => s.node) }
}
