/**
 * Content identities of layers and images (pure, no I/O): digests in the OCI
 * descriptor grammar, DiffIDs and ChainIDs, and a pass-through that hashes
 * and counts a stream as it flows.
 *
 *   ChainID(L0) = DiffID(L0)
 *   ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))
 *
 * The hashed string holds both full digests, `sha256:` prefixes included
 * (image-spec identity/chainid.go).
 */
import { createHash, type Hash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'

/** sha256 is the one algorithm strata accepts; its hex is 64 lowercase characters. */
const SHA256 = /^sha256:[a-f0-9]{64}$/

/** The digest of an empty layer: 1024 zero bytes, an empty tar. */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef'

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && SHA256.test(value)
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`
}

/**
 * ChainIDs of every prefix of `diffIds`, stacked on the chain `base` (itself
 * a ChainID) when given: the names of the snapshots an image unpacks to.
 */
export function chainIds(diffIds: readonly string[], base?: string): string[] {
  const out: string[] = []
  let prev = base
  for (const diffId of diffIds) {
    prev = prev === undefined ? diffId : sha256Digest(`${prev} ${diffId}`)
    out.push(prev)
  }
  return out
}

/** Hashes and counts the bytes that pass through; `digest` is final once the stream ends. */
export class DigestMeter extends Transform {
  readonly #hash: Hash = createHash('sha256')
  readonly #check: ((bytes: number) => Error | undefined) | undefined
  #bytes = 0
  #digest?: string

  /** `check` runs after every chunk; an error it returns fails the stream. */
  constructor(check?: (bytes: number) => Error | undefined) {
    super()
    this.#check = check
  }

  get bytes(): number {
    return this.#bytes
  }

  /** `sha256:<hex>` of everything that passed; throws if the stream has not ended. */
  get digest(): string {
    if (this.#digest === undefined) throw new Error('the digest is known only when the stream has ended')
    return this.#digest
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#bytes += chunk.length
    this.#hash.update(chunk)
    cb(this.#check?.(this.#bytes) ?? null, chunk)
  }

  override _flush(cb: TransformCallback): void {
    this.#digest = `sha256:${this.#hash.digest('hex')}`
    cb()
  }
}
