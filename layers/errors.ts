/**
 * The one error a bad layer or image gives. It is an InvalidArgumentError, so
 * its `code` is the stable ERR_INVALID_ARGUMENT; `reason` says which rule the
 * input broke (also stable) and `entry` names the tar entry when there is one.
 */
import { InvalidArgumentError } from '../core/errors.js'

export type LayerProblem =
  /** A name or link target that leaves the root, is empty, or holds NUL. */
  | 'unsafe-path'
  /** A whiteout the OCI rules forbid (`.wh.`, `.wh..`, a path under a whiteout). */
  | 'bad-whiteout'
  /** The same path twice in one layer (a directory repeated over itself is allowed). */
  | 'duplicate'
  /** An entry that cannot be applied over what is there (a file under a file, a link to nothing). */
  | 'conflict'
  /** Not a tar, a truncated or corrupt tar or gzip stream. */
  | 'corrupt'
  /** An entry type or compression strata does not read. */
  | 'unsupported'
  /** Over a limit: uncompressed size, compression ratio, header or name size. */
  | 'too-large'
  /** A digest, DiffID or size that does not match what the image says. */
  | 'digest-mismatch'
  /** An image layout or archive that breaks the OCI or Docker format rules. */
  | 'bad-image'

export class InvalidLayerError extends InvalidArgumentError {
  readonly reason: LayerProblem
  readonly entry?: string

  constructor(reason: LayerProblem, message: string, opts: { entry?: string; cause?: unknown } = {}) {
    super(opts.entry === undefined ? message : `${message} (entry ${JSON.stringify(opts.entry)})`, { cause: opts.cause })
    this.reason = reason
    if (opts.entry !== undefined) this.entry = opts.entry
  }
}

export function isLayerError(err: unknown, reason?: LayerProblem): err is InvalidLayerError {
  return err instanceof InvalidLayerError && (reason === undefined || err.reason === reason)
}
