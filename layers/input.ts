/**
 * The byte side of a layer: detects gzip by its magic, decompresses, counts
 * and hashes the uncompressed stream (the DiffID), and stops a stream that
 * grows past the limits (a gzip bomb) before it costs more than they allow.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { DigestMeter } from './digest.js'
import { InvalidLayerError } from './errors.js'

export interface LayerLimits {
  /** Most uncompressed bytes a layer may have (default 32 GiB). */
  maxBytes?: number
  /** Most uncompressed bytes per compressed byte of a gzip layer (default 100)... */
  maxRatio?: number
  /** ...checked once this many uncompressed bytes have passed (default 64 MiB). */
  ratioAfterBytes?: number
}

export const DEFAULT_LIMITS: Required<LayerLimits> = {
  maxBytes: 32 * 2 ** 30,
  maxRatio: 100,
  ratioAfterBytes: 64 * 2 ** 20,
}

const GZIP = [0x1f, 0x8b]
const OTHERS: Array<[string, number[]]> = [
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
]

function startsWith(head: Buffer, magic: number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b)
}

/** Counts what passes (the compressed side of the ratio). */
class ByteCounter extends Transform {
  bytes = 0
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length
    cb(null, chunk)
  }
}

/** The first `n` bytes of `input` (fewer at its end), and a stream that still yields all of it. */
async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = []
  let length = 0
  let ended = false
  while (length < n && !ended) {
    const chunk = input.read() as Buffer | null
    if (chunk !== null) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
      length += chunk.length
      continue
    }
    if (input.readableEnded) break
    ended = await new Promise<boolean>((resolve, reject) => {
      const done = (v: boolean) => () => {
        input.off('readable', more)
        input.off('end', end)
        input.off('error', fail)
        resolve(v)
      }
      const more = done(false)
      const end = done(true)
      const fail = (err: Error) => {
        input.off('readable', more)
        input.off('end', end)
        reject(err)
      }
      input.once('readable', more).once('end', end).once('error', fail)
    })
  }
  const head = Buffer.concat(chunks)
  if (ended || input.readableEnded) return { head, stream: Readable.from(head.length > 0 ? [head] : []) }
  if (head.length > 0) input.unshift(head)
  return { head, stream: input }
}

export interface LayerInput {
  /** The uncompressed tar. */
  tar: Readable
  /** Counts and hashes `tar`: the DiffID and size once it has ended. */
  meter: DigestMeter
  /** Settles when every byte has been read (rejects with the first error). */
  done: Promise<void>
  /** Stops reading (on an error of the consumer). */
  destroy(err: Error): void
}

export async function openLayerInput(
  source: Readable | AsyncIterable<Buffer> | Iterable<Buffer>,
  limits: LayerLimits = {},
): Promise<LayerInput> {
  const lim = { ...DEFAULT_LIMITS, ...limits }
  const input = source instanceof Readable ? source : Readable.from(source)
  const { head, stream } = await peek(input, 6)
  // Even an empty layer is a tar (1024 zero bytes): no bytes at all is a mistake (strata apply KEY < /dev/null).
  if (head.length === 0) throw new InvalidLayerError('corrupt', 'the layer is empty (0 bytes): not a tar archive')
  for (const [name, magic] of OTHERS) {
    if (startsWith(head, magic)) {
      input.destroy()
      throw new InvalidLayerError('unsupported', `${name}-compressed layers are not supported (plain tar and gzip are)`)
    }
  }
  const gzip = startsWith(head, GZIP)
  const counter = new ByteCounter()
  const meter = new DigestMeter((bytes) => {
    if (bytes > lim.maxBytes) {
      return new InvalidLayerError('too-large', `layer is over the limit of ${lim.maxBytes} uncompressed bytes`)
    }
    if (gzip && bytes > lim.ratioAfterBytes && bytes > lim.maxRatio * counter.bytes) {
      return new InvalidLayerError(
        'too-large',
        `layer expands more than ${lim.maxRatio}× (${bytes} bytes from ${counter.bytes}): a gzip bomb?`,
      )
    }
    return undefined
  })
  const stages: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream> = gzip ? [stream, counter, createGunzip(), meter] : [stream, meter]
  const done = pipeline(stages as unknown as [Readable, Transform]).catch((err: unknown) => {
    throw translateInputError(err)
  })
  // Awaited later by the caller; this only keeps a failure before then from being an unhandled rejection.
  done.catch(() => {})
  return {
    tar: meter,
    meter,
    done,
    destroy: (err) => {
      for (const s of stages) (s as Readable).destroy(err)
    },
  }
}

/** zlib and stream errors in the vocabulary of layers. */
export function translateInputError(err: unknown): unknown {
  if (err instanceof InvalidLayerError) return err
  const code = (err as { code?: string }).code ?? ''
  if (code.startsWith('Z_')) {
    return new InvalidLayerError('corrupt', `gzip stream is corrupt or truncated: ${(err as Error).message}`, { cause: err })
  }
  return err
}
