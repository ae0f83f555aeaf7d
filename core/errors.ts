/**
 * One error vocabulary. Every error a Snapshotter throws extends
 * SnapshotterError and carries a stable `code`; tests and callers compare
 * codes, never messages. File-level errors from SnapshotFs use Node's POSIX
 * codes instead (see `posixError`).
 */

/** The stable codes; they never change meaning within a major version. */
export type ErrorCode =
  | 'ERR_NOT_FOUND'
  | 'ERR_ALREADY_EXISTS'
  | 'ERR_FAILED_PRECONDITION'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_UNAVAILABLE'
  | 'ERR_NOT_IMPLEMENTED'
  | 'ERR_DATA_LOSS'

export class SnapshotterError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

export class NotFoundError extends SnapshotterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NOT_FOUND', message, options)
  }
}

export class AlreadyExistsError extends SnapshotterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ALREADY_EXISTS', message, options)
  }
}

export class FailedPreconditionError extends SnapshotterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_FAILED_PRECONDITION', message, options)
  }
}

export class InvalidArgumentError extends SnapshotterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_ARGUMENT', message, options)
  }
}

export class UnavailableError extends SnapshotterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_UNAVAILABLE', message, options)
  }
}

/** A feature this driver or this build does not have (gRPC's Unimplemented). */
export class NotImplementedError extends SnapshotterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_NOT_IMPLEMENTED', message, options)
  }
}

/**
 * Stored data that should be there is not, or does not decode: a corrupt or
 * damaged store (gRPC's DataLoss). `check()` names what it found.
 */
export class DataLossError extends SnapshotterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DATA_LOSS', message, options)
  }
}

export function isSnapshotterError(err: unknown, code?: ErrorCode): err is SnapshotterError {
  return err instanceof SnapshotterError && (code === undefined || err.code === code)
}

/**
 * Runs the cleanup of a failed operation and returns the error to throw: the
 * original one, carrying the cleanup's own failure as `suppressed` (as Java's
 * try-with-resources does) instead of dropping it.
 */
export async function cleanupAfter(err: unknown, cleanup: () => Promise<unknown>): Promise<unknown> {
  try {
    await cleanup()
  } catch (cleanupErr) {
    if (err instanceof Error) Object.assign(err, { suppressed: cleanupErr })
  }
  return err
}

/** POSIX codes a SnapshotFs may answer with, and their errno numbers on Linux. */
const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  ENOTSUP: 95,
  EOPNOTSUPP: 95,
} as const

export type PosixCode = keyof typeof ERRNO

const DESCRIPTION: Record<PosixCode, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EIO: 'i/o error',
  E2BIG: 'argument list too long',
  EBADF: 'bad file descriptor',
  EACCES: 'permission denied',
  EBUSY: 'resource busy',
  EEXIST: 'file already exists',
  EXDEV: 'cross-device link',
  ENOTDIR: 'not a directory',
  EISDIR: 'illegal operation on a directory',
  EINVAL: 'invalid argument',
  EFBIG: 'file too large',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EMLINK: 'too many links',
  ERANGE: 'result too large',
  ENAMETOOLONG: 'name too long',
  ENOTEMPTY: 'directory not empty',
  ELOOP: 'too many symbolic links encountered',
  ENODATA: 'no data available',
  ENOTSUP: 'operation not supported',
  EOPNOTSUPP: 'operation not supported',
}

export interface PosixError extends Error {
  code: PosixCode
  errno: number
  syscall: string
  path?: string
}

/** An error shaped like the ones node:fs throws, naming a path inside the snapshot. */
export function posixError(code: PosixCode, syscall: string, path?: string, dest?: string): PosixError {
  const where = path === undefined ? '' : dest === undefined ? ` '${path}'` : ` '${path}' -> '${dest}'`
  const err = new Error(`${code}: ${DESCRIPTION[code]}, ${syscall}${where}`) as PosixError
  err.code = code
  err.errno = -ERRNO[code]
  err.syscall = syscall
  if (path !== undefined) err.path = path
  return err
}

/** The promise's value, or undefined when it fails because the path does not exist (ENOENT). */
export async function unlessMissing<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined
    throw err
  }
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined
}
