/**
 * strata's typed errors as gRPC statuses, with the codes containerd's errdefs
 * turns back into its own error kinds (errdefs.FromGRPC): a NotFound from
 * strata is `errdefs.IsNotFound` inside containerd, which is what its
 * unpacker and garbage collector branch on.
 */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js'
import { type ErrorCode, isSnapshotterError } from '../core/errors.js'

const CODES: Record<ErrorCode, status> = {
  ERR_NOT_FOUND: status.NOT_FOUND,
  ERR_ALREADY_EXISTS: status.ALREADY_EXISTS,
  ERR_FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  ERR_INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  ERR_UNAVAILABLE: status.UNAVAILABLE,
  ERR_NOT_IMPLEMENTED: status.UNIMPLEMENTED,
  ERR_DATA_LOSS: status.DATA_LOSS,
}

/** The strata code of an error, or undefined for an error strata did not type. */
export function codeOf(err: unknown): ErrorCode | undefined {
  return isSnapshotterError(err) ? err.code : undefined
}

export function grpcStatusOf(err: unknown): status {
  // Anything untyped (an I/O error, a bug) is UNKNOWN, as Go's status.FromError does.
  return isSnapshotterError(err) ? CODES[err.code] : status.UNKNOWN
}

/** The error a grpc-js handler hands its callback: the code, and the message as the status text. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const message = err instanceof Error ? err.message : String(err)
  return { name: 'Error', message, code: grpcStatusOf(err), details: message, metadata: new Metadata() }
}
