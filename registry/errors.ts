/**
 * The error a registry operation gives: a SnapshotterError (stable `code`)
 * that names the reference and the step, and the HTTP status when there was
 * one. Never credentials: messages are built from the reference, the step and
 * the registry's own error codes, not from headers or URLs with secrets.
 */
import { type ErrorCode, SnapshotterError } from '../core/errors.js'

/** What the client was doing. */
export type RegistryStep = 'ping' | 'auth' | 'manifest' | 'config' | 'blob' | 'upload' | 'mount' | 'tag'

export class RegistryError extends SnapshotterError {
  readonly ref: string
  readonly step: RegistryStep
  readonly status?: number

  constructor(
    code: ErrorCode,
    where: { ref: string; step: RegistryStep; status?: number },
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(code, `${where.ref}: ${where.step}: ${message}`, opts)
    this.ref = where.ref
    this.step = where.step
    if (where.status !== undefined) this.status = where.status
  }
}

export function isRegistryError(err: unknown, step?: RegistryStep): err is RegistryError {
  return err instanceof RegistryError && (step === undefined || err.step === step)
}

/** The code an HTTP status maps to once retries are spent. */
export function codeOfStatus(status: number): ErrorCode {
  if (status === 404) return 'ERR_NOT_FOUND'
  if (status === 401 || status === 403) return 'ERR_FAILED_PRECONDITION'
  if (status === 400 || status === 405 || status === 413 || status === 416) return 'ERR_INVALID_ARGUMENT'
  return 'ERR_UNAVAILABLE'
}
