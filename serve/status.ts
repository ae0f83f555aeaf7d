/**
 * strata's typed errors as gRPC statuses, with the codes containerd's errdefs
 * turns back into its own error kinds (errdefs.FromGRPC): a NotFound from
 * strata is `errdefs.IsNotFound` inside containerd, which is what its
 * unpacker and garbage collector branch on.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js'
import { isSnapshotterError, type ErrorCode } from '../core/errors.js'

const CODES: Record<ErrorCode, status> = {
  ERR_NOT_FOUND: status.NOT_FOUND,
  ERR_ALREADY_EXISTS: status.ALREADY_EXISTS,
  ERR_FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  ERR_INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  ERR_UNAVAILABLE: status.UNAVAILABLE,
}

/** A call the server knows but strata cannot do (containerd reads ErrNotImplemented). */
export class NotImplementedError extends Error {
  readonly code = 'ERR_NOT_IMPLEMENTED'
}

/** The strata code of an error, or undefined for an error strata did not type. */
export function codeOf(err: unknown): ErrorCode | 'ERR_NOT_IMPLEMENTED' | undefined {
  if (err instanceof NotImplementedError) return err.code
  return isSnapshotterError(err) ? err.code : undefined
}

export function grpcStatusOf(err: unknown): status {
  if (err instanceof NotImplementedError) return status.UNIMPLEMENTED
  if (isSnapshotterError(err)) return CODES[err.code]
  // Anything untyped (an I/O error, a bug) is UNKNOWN, as Go's status.FromError does.
  return status.UNKNOWN
}

/** The error a grpc-js handler hands its callback: the code, and the message as the status text. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const message = err instanceof Error ? err.message : String(err)
  return { name: 'Error', message, code: grpcStatusOf(err), details: message, metadata: new Metadata() }
}
