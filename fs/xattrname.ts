/**
 * The checks every SnapshotFs makes on an extended attribute's name, value
 * and flags, the way Linux makes them: an unknown namespace is EOPNOTSUPP, a
 * name over 255 bytes ERANGE, a value over 64 KiB E2BIG. `system.*` (ACLs)
 * is not served: no driver keeps it, and layers do not carry it.
 */
import { posixError } from '../core/errors.js'
import { XATTR_NAME_MAX, XATTR_VALUE_MAX, type XattrFlag, type XattrNamespace } from '../core/snapshotter.js'

const NAMESPACES: readonly XattrNamespace[] = ['user', 'trusted', 'security']

/** The namespace of a well-formed name; throws the code Linux gives otherwise. */
export function checkXattrName(syscall: string, p: string, name: unknown): XattrNamespace {
  if (typeof name !== 'string' || name.includes('\0')) throw posixError('EINVAL', syscall, p)
  const dot = name.indexOf('.')
  const ns = dot > 0 ? (name.slice(0, dot) as XattrNamespace) : undefined
  if (ns === undefined || !NAMESPACES.includes(ns) || dot === name.length - 1) throw posixError('EOPNOTSUPP', syscall, p)
  if (Buffer.byteLength(name) > XATTR_NAME_MAX) throw posixError('ERANGE', syscall, p)
  return ns
}

export function checkXattrValue(syscall: string, p: string, value: unknown, flags: unknown): void {
  if (!Buffer.isBuffer(value)) throw posixError('EINVAL', syscall, p)
  if (value.length > XATTR_VALUE_MAX) throw posixError('E2BIG', syscall, p)
  if (flags !== undefined && flags !== 'create' && flags !== 'replace') throw posixError('EINVAL', syscall, p)
}

/**
 * overlayfs's own markers: never a user's to see or set through any driver
 * (overlayfs itself refuses them through its mount with EOPNOTSUPP), so the
 * same call gives the same answer on native, overlay and row.
 */
export function isOverlayPrivate(name: string): boolean {
  return name.startsWith('trusted.overlay.')
}

/** Node types that may carry `user.*` (Linux: regular files and directories only). */
export function userXattrAllowed(type: string): boolean {
  return type === 'file' || type === 'dir'
}

export type { XattrFlag }
