/**
 * Errors to errno values for FUSE replies. SnapshotFs errors carry Node's
 * POSIX codes (ENOENT, EROFS, ...), which map one to one; strata's typed
 * errors map to the errno a file system would give for the same failure;
 * anything else is a bug or an I/O failure and answers EIO.
 */
import { constants } from 'node:os'

const TYPED: Record<string, string> = {
  ERR_NOT_FOUND: 'ENOENT',
  ERR_ALREADY_EXISTS: 'EEXIST',
  ERR_INVALID_ARGUMENT: 'EINVAL',
  ERR_FAILED_PRECONDITION: 'EBUSY',
  ERR_UNAVAILABLE: 'ENOTCONN',
  ERR_NOT_IMPLEMENTED: 'ENOSYS',
}

const NUMBERS = constants.errno as Record<string, number>

export const E = {
  ENOENT: NUMBERS.ENOENT,
  EIO: NUMBERS.EIO,
  EBADF: NUMBERS.EBADF,
  EEXIST: NUMBERS.EEXIST,
  EINVAL: NUMBERS.EINVAL,
  EFBIG: NUMBERS.EFBIG,
  EROFS: NUMBERS.EROFS,
  ENAMETOOLONG: NUMBERS.ENAMETOOLONG,
  ENOSYS: NUMBERS.ENOSYS,
  ENODATA: NUMBERS.ENODATA,
  ERANGE: NUMBERS.ERANGE,
  EOPNOTSUPP: NUMBERS.EOPNOTSUPP,
  EISDIR: NUMBERS.EISDIR,
  ENOTDIR: NUMBERS.ENOTDIR,
} as const

/** The positive errno for `err`; EIO when it names none. */
export function errnoOf(err: unknown): number {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : ''
  const posix = TYPED[code] ?? code
  return NUMBERS[posix] ?? E.EIO
}
