/**
 * Reading from a repository: manifests (capped at 4 MiB, checked against the
 * digest asked for or the one the registry states), small JSON blobs, and
 * layer blobs as a stream that resumes a dropped or short response with a
 * `Range` request and fails at its end unless every byte matched the digest.
 */
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { sha256Digest } from '../layers/digest.js'
import { InvalidLayerError } from '../layers/errors.js'
import type { RegistryClient, Where } from './client.js'
import { RegistryError } from './errors.js'
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES } from './manifest.js'

export interface Repo {
  client: RegistryClient
  repository: string
  /** The reference as the user wrote it, for messages. */
  ref: string
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`
}

function problem(reason: 'digest-mismatch' | 'too-large' | 'corrupt', where: Where, message: string): InvalidLayerError {
  return new InvalidLayerError(reason, `${where.ref}: ${where.step}: ${message}`)
}

/** The body, refused once it passes `max` bytes (by Content-Length or by counting). */
async function readCapped(res: Response, max: number, where: Where, what: string): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN)
  if (declared > max) {
    await res.body?.cancel()
    throw problem('too-large', where, `${what} is ${declared} bytes, over the limit of ${max}`)
  }
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of res.body ?? []) {
    length += chunk.length
    if (length > max) {
      await res.body?.cancel().catch(() => {})
      throw problem('too-large', where, `${what} is over the limit of ${max} bytes`)
    }
    chunks.push(Buffer.from(chunk))
  }
  return Buffer.concat(chunks)
}

export interface FetchedManifest {
  bytes: Buffer
  contentType: string
  digest: string
}

/** GET a manifest by tag or digest; its bytes must hash to the digest asked for (or stated by the registry). */
export async function fetchManifest(repo: Repo, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
  const where: Where = { ref: repo.ref, step: 'manifest' }
  const res = await repo.client.request({
    url: `/v2/${repo.repository}/manifests/${reference}`,
    headers: { accept: MANIFEST_ACCEPT },
    scope: pullScope(repo.repository),
    where,
    ...(signal ? { signal } : {}),
  })
  if (res.status !== 200) return repo.client.fail(res, where, `no manifest ${reference}`)
  const bytes = await readCapped(res, MAX_MANIFEST_BYTES, where, 'the manifest')
  const digest = sha256Digest(bytes)
  const stated = reference.startsWith('sha256:') ? reference : res.headers.get('docker-content-digest')
  if (stated?.startsWith('sha256:') && stated !== digest)
    throw problem('digest-mismatch', where, `the manifest's digest is ${digest}, not ${stated}`)
  return { bytes, contentType: res.headers.get('content-type') ?? '', digest }
}

/** GET a small blob whole (a config), checked against its descriptor. */
export async function fetchSmallBlob(repo: Repo, desc: { digest: string; size: number }, where: Where, max: number): Promise<Buffer> {
  if (desc.size > max) throw problem('too-large', where, `blob ${desc.digest} is ${desc.size} bytes, over the limit of ${max}`)
  const res = await repo.client.request({ url: `/v2/${repo.repository}/blobs/${desc.digest}`, scope: pullScope(repo.repository), where })
  if (res.status !== 200) return repo.client.fail(res, where, `no blob ${desc.digest}`)
  const bytes = await readCapped(res, max, where, `blob ${desc.digest}`)
  if (bytes.length !== desc.size || sha256Digest(bytes) !== desc.digest) {
    throw problem('digest-mismatch', where, `blob ${desc.digest} came as ${bytes.length} bytes hashing to ${sha256Digest(bytes)}`)
  }
  return bytes
}

/** Aborts its signal when started and not stopped within `ms`. */
class Stall {
  readonly #ms: number
  readonly #abort = new AbortController()
  #timer: NodeJS.Timeout | undefined

  constructor(ms: number) {
    this.#ms = ms
    this.start()
  }

  get signal(): AbortSignal {
    return this.#abort.signal
  }

  start(): void {
    this.stop()
    this.#timer = setTimeout(() => this.#abort.abort(new Error('stalled')), this.#ms)
  }

  stop(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}

export interface BlobStreamOptions {
  signal?: AbortSignal
  /** Called with the bytes received so far. */
  onBytes?: (bytes: number) => void
}

/**
 * The blob's bytes, verified: a response that ends short or breaks is resumed
 * from where it stopped (`Range: bytes=N-`; a 200 instead of a 206 is read
 * again from the start, its first N bytes skipped). Attempts that bring no new
 * byte count against the client's retries. A response that stalls (nothing
 * for the client's idle timeout while we wait on the network, not while the
 * consumer holds us back) is given up and resumed the same way. The stream
 * errors instead of ending when the size or digest is wrong.
 */
export function blobStream(repo: Repo, desc: { digest: string; size: number }, opts: BlobStreamOptions = {}): Readable {
  return Readable.from(blobChunks(repo, desc, opts), { objectMode: false, highWaterMark: 1 << 20 })
}

async function* blobChunks(repo: Repo, desc: { digest: string; size: number }, opts: BlobStreamOptions): AsyncGenerator<Buffer> {
  const where: Where = { ref: repo.ref, step: 'blob' }
  const hash = createHash('sha256')
  let got = 0
  let fruitless = 0
  for (;;) {
    const before = got
    const headers: Record<string, string> = got > 0 ? { range: `bytes=${got}-` } : {}
    const stall = new Stall(repo.client.idleTimeoutMs)
    const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal
    let res: Response
    try {
      res = await repo.client.request({
        url: `/v2/${repo.repository}/blobs/${desc.digest}`,
        headers,
        scope: pullScope(repo.repository),
        where,
        signal,
      })
    } catch (err) {
      stall.stop()
      if (opts.signal?.aborted || !stall.signal.aborted) throw err
      fruitless++
      if (fruitless > repo.client.retries)
        throw new RegistryError('ERR_UNAVAILABLE', where, `blob ${desc.digest}: no answer within ${repo.client.idleTimeoutMs} ms`)
      continue
    }
    if (got > 0 && res.status === 416) {
      await res.body?.cancel()
      throw problem('corrupt', where, `blob ${desc.digest} ends at ${got} bytes; the manifest says ${desc.size}`)
    }
    if (res.status !== 200 && !(got > 0 && res.status === 206)) await repo.client.fail(res, where, `no blob ${desc.digest}`)
    let skip = res.status === 200 ? got : 0
    let broken: unknown
    try {
      for await (const raw of res.body ?? []) {
        let chunk = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
        if (skip > 0) {
          const n = Math.min(skip, chunk.length)
          skip -= n
          chunk = chunk.subarray(n)
          if (chunk.length === 0) continue
        }
        got += chunk.length
        if (got > desc.size) throw problem('corrupt', where, `blob ${desc.digest} is longer than the manifest's ${desc.size} bytes`)
        hash.update(chunk)
        opts.onBytes?.(got)
        stall.stop()
        yield chunk
        stall.start()
      }
    } catch (err) {
      if (err instanceof InvalidLayerError || opts.signal?.aborted) throw err
      broken = err
    } finally {
      stall.stop()
    }
    if (got === desc.size) break
    fruitless = got > before ? 0 : fruitless + 1
    if (fruitless > repo.client.retries) {
      if (broken !== undefined)
        throw new RegistryError('ERR_UNAVAILABLE', where, `blob ${desc.digest} broke off at ${got} of ${desc.size} bytes`, {
          cause: broken,
        })
      throw problem('corrupt', where, `blob ${desc.digest} is truncated: ${got} of ${desc.size} bytes`)
    }
    if (got === before) await repo.client.backoff(fruitless, undefined, opts.signal)
  }
  const digest = `sha256:${hash.digest('hex')}`
  if (digest !== desc.digest) throw problem('digest-mismatch', where, `blob ${desc.digest} hashes to ${digest}`)
}
