/**
 * Argument rules every SnapshotFs shares (pure, no I/O): path syntax and the
 * numeric arguments of I/O calls. Bad input is EINVAL, named by the path.
 */
import { posixError } from '../core/errors.js'
import type { OpenFlags } from '../core/snapshotter.js'

/** Path components of `p`, without '' and '.'; '..' is left for the resolver. */
export function splitPath(syscall: string, p: string): string[] {
  if (typeof p !== 'string') throw posixError('EINVAL', syscall, String(p))
  if (p.includes('\0')) throw posixError('EINVAL', syscall, p)
  if (p.length === 0) throw posixError('ENOENT', syscall, p)
  const parts = p.split('/').filter((s) => s !== '' && s !== '.')
  for (const part of parts) if (Buffer.byteLength(part) > 255) throw posixError('ENAMETOOLONG', syscall, p)
  return parts
}

function isUint(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

export function checkMode(syscall: string, p: string, mode: unknown): void {
  if (!isUint(mode) || mode > 0o7777) throw posixError('EINVAL', syscall, p)
}

export function checkOwner(syscall: string, p: string, uid: unknown, gid: unknown): void {
  if (!isUint(uid) || !isUint(gid) || uid > 0xfffffffe || gid > 0xfffffffe) throw posixError('EINVAL', syscall, p)
}

export function checkTime(syscall: string, p: string, ms: unknown): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw posixError('EINVAL', syscall, p)
}

export function checkLength(syscall: string, p: string, len: unknown): void {
  if (!isUint(len)) throw posixError('EINVAL', syscall, p)
}

/** read/write arguments: a Buffer, and a range inside it, at a position ≥ 0. */
export function checkIoArgs(syscall: string, p: string, buf: unknown, offset: unknown, length: unknown, position: unknown): void {
  if (!Buffer.isBuffer(buf) || !isUint(offset) || !isUint(length) || !isUint(position)) {
    throw posixError('EINVAL', syscall, p)
  }
  if (offset + length > buf.length) throw posixError('EINVAL', syscall, p)
}

/** A file handle's own checks: EBADF once closed, or for a read on a write-only handle and the reverse. */
export function checkHandle(closed: boolean, flags: OpenFlags, syscall: string, p: string, access: 'read' | 'write'): void {
  if (closed) throw posixError('EBADF', syscall, p)
  const ok = access === 'read' ? flags === 'r' || flags === 'r+' : flags !== 'r'
  if (!ok) throw posixError('EBADF', syscall, p)
}
