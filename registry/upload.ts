/**
 * Writing blobs to a repository: HEAD to skip one the registry has, a
 * cross-repository mount (`?mount=&from=`; 201 is done, 202 falls back), and
 * uploads. A blob that fits in one chunk goes as POST + PUT with its digest
 * (Distribution 2.8 ignores a single POST with a body). A larger one streams
 * in `PATCH` chunks with `Content-Range`; when a chunk fails, the upload
 * URL's `Range` says how much landed and the rest of the chunk is sent
 * again, so an interrupted upload resumes instead of starting over. Only the
 * chunk in flight is held in memory.
 *
 * Distribution 2.8 keeps the bytes of a PATCH cut off mid-body but signs the
 * offset into the upload URL's `_state`, so after such a cut every URL of the
 * session answers BLOB_UPLOAD_INVALID (measured here). Then, and only then,
 * the blob starts over on a new session from a stream opened again.
 */
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { RegistryClient, Where } from './client.js'
import { RegistryError } from './errors.js'

export interface Target {
  client: RegistryClient
  repository: string
  ref: string
}

/** Default chunk of a streamed upload. */
export const DEFAULT_CHUNK_BYTES = 32 * 2 ** 20
const OCTETS = 'application/octet-stream'

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`
}

export async function hasBlob(t: Target, digest: string): Promise<boolean> {
  const where: Where = { ref: t.ref, step: 'upload' }
  const res = await t.client.request({ method: 'HEAD', url: `/v2/${t.repository}/blobs/${digest}`, scope: pushScope(t.repository), where })
  await res.body?.cancel()
  if (res.status === 200) return true
  if (res.status === 404) return false
  return t.client.fail(res, where, `HEAD of blob ${digest}`)
}

/** Mounts `digest` from repository `from` of the same registry; false when the registry would rather have an upload. */
export async function mountBlob(t: Target, digest: string, from: string): Promise<boolean> {
  const where: Where = { ref: t.ref, step: 'mount' }
  const query = new URLSearchParams({ mount: digest, from })
  const res = await t.client
    .request({
      method: 'POST',
      url: `/v2/${t.repository}/blobs/uploads/?${query}`,
      headers: { 'content-length': '0' },
      scope: `${pushScope(t.repository)} repository:${from}:pull`,
      where,
    })
    .catch((err: unknown) => {
      if (err instanceof RegistryError && err.status === 401) return undefined
      throw err
    })
  if (!res) return false
  await res.body?.cancel()
  if (res.status === 201) return true
  if (res.status === 202) {
    const location = res.headers.get('location')
    if (location) await cancelUpload(t, location)
    return false
  }
  return false
}

async function cancelUpload(t: Target, location: string): Promise<void> {
  const url = await absolute(t, location)
  const res = await t.client
    .request({ method: 'DELETE', url, scope: pushScope(t.repository), where: { ref: t.ref, step: 'upload' } })
    .catch(() => undefined)
  await res?.body?.cancel()
}

async function absolute(t: Target, location: string): Promise<string> {
  return new URL(location, await t.client.url('/', { ref: t.ref, step: 'upload' })).toString()
}

async function startUpload(t: Target, where: Where): Promise<string> {
  const res = await t.client.request({
    method: 'POST',
    url: `/v2/${t.repository}/blobs/uploads/`,
    headers: { 'content-length': '0' },
    scope: pushScope(t.repository),
    where,
  })
  await res.body?.cancel()
  const location = res.headers.get('location')
  if (res.status !== 202 || !location) return t.client.fail(res, where, 'could not start an upload')
  return absolute(t, location)
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location)
  url.searchParams.set('digest', digest)
  return url.toString()
}

async function finish(t: Target, location: string, digest: string, body: Buffer, where: Where): Promise<void> {
  const res = await t.client.request({
    method: 'PUT',
    url: withDigest(location, digest),
    body,
    headers: { 'content-type': OCTETS, 'content-length': String(body.length) },
    scope: pushScope(t.repository),
    where,
  })
  await res.body?.cancel()
  if (res.status !== 201) await t.client.fail(res, where, `the registry did not take blob ${digest}`)
}

/** Uploads a blob held in memory (a config, a manifest-sized thing): POST, then PUT with the digest. */
export async function uploadBuffer(t: Target, bytes: Buffer, digest: string): Promise<void> {
  const where: Where = { ref: t.ref, step: 'upload' }
  await finish(t, await startUpload(t, where), digest, bytes, where)
}

export interface StreamUploadOptions {
  chunkBytes?: number
  /** Called with the bytes the registry has acknowledged. */
  onBytes?: (bytes: number) => void
}

export interface StreamUploaded {
  digest: string
  size: number
  /** Bytes sent, resends included. */
  sent: number
}

/** Fills up to `size` bytes from the stream; a shorter buffer means the stream ended. */
async function readChunk(it: AsyncIterator<Buffer>, carry: { rest: Buffer | undefined }, size: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let length = 0
  while (length < size) {
    let piece = carry.rest
    carry.rest = undefined
    if (!piece) {
      const next = await it.next()
      if (next.done) break
      piece = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value)
    }
    if (length + piece.length > size) {
      carry.rest = piece.subarray(size - length)
      piece = piece.subarray(0, size - length)
    }
    parts.push(piece)
    length += piece.length
  }
  return Buffer.concat(parts, length)
}

/** The registry lost the upload session: only a new one can take the blob. */
class SessionLost extends Error {}

/** Streams a blob whose digest is learnt as it goes; `open` gives its bytes again if the session is lost. */
export async function uploadStream(t: Target, open: () => Readable, opts: StreamUploadOptions = {}): Promise<StreamUploaded> {
  const tally = { sent: 0 }
  for (let attempt = 0; ; attempt++) {
    try {
      const up = await uploadOnce(t, open(), opts, tally)
      return { ...up, sent: tally.sent }
    } catch (err) {
      if (!(err instanceof SessionLost)) throw err
      if (attempt >= t.client.retries) throw new RegistryError('ERR_UNAVAILABLE', { ref: t.ref, step: 'upload' }, err.message)
    }
  }
}

async function uploadOnce(
  t: Target,
  stream: Readable,
  opts: StreamUploadOptions,
  tally: { sent: number },
): Promise<Omit<StreamUploaded, 'sent'>> {
  const where: Where = { ref: t.ref, step: 'upload' }
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES
  const hash = createHash('sha256')
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  const carry: { rest: Buffer | undefined } = { rest: undefined }
  let location = await startUpload(t, where)
  let offset = 0
  try {
    let chunk = await readChunk(it, carry, chunkBytes)
    for (;;) {
      const next = chunk.length === chunkBytes ? await readChunk(it, carry, chunkBytes) : Buffer.alloc(0)
      hash.update(chunk)
      if (offset === 0 && next.length === 0) {
        const digest = `sha256:${hash.digest('hex')}`
        tally.sent += chunk.length
        await finish(t, location, digest, chunk, where)
        opts.onBytes?.(chunk.length)
        return { digest, size: chunk.length }
      }
      const r = await sendChunk(t, location, chunk, offset, where, tally)
      location = r
      offset += chunk.length
      opts.onBytes?.(offset)
      if (next.length === 0) break
      chunk = next
    }
    const digest = `sha256:${hash.digest('hex')}`
    await finish(t, location, digest, Buffer.alloc(0), where)
    return { digest, size: offset }
  } catch (err) {
    stream.destroy()
    await cancelUpload(t, location)
    throw err
  }
}

/**
 * PATCHes `chunk` at `offset`. On a failure, asks the upload URL how much
 * the registry holds and sends the rest of the chunk from there, up to the
 * client's retries.
 */
async function sendChunk(
  t: Target,
  location: string,
  chunk: Buffer,
  offset: number,
  where: Where,
  tally: { sent: number },
): Promise<string> {
  let from = 0
  for (let attempt = 0; ; attempt++) {
    const part = chunk.subarray(from)
    let res: Response | undefined
    let failure: unknown
    try {
      tally.sent += part.length
      res = await t.client.request({
        method: 'PATCH',
        url: location,
        body: part,
        retry: false,
        scope: pushScope(t.repository),
        where,
        headers: {
          'content-type': OCTETS,
          'content-length': String(part.length),
          'content-range': `${offset + from}-${offset + chunk.length - 1}`,
        },
      })
      await res.body?.cancel()
      if (res.status === 202) {
        const next = res.headers.get('location')
        return next ? await absolute(t, next) : location
      }
      if (res.status < 500 && res.status !== 416 && res.status !== 429) await t.client.fail(res, where, `PATCH at ${offset + from}`)
    } catch (err) {
      if (err instanceof RegistryError && err.status !== undefined && err.status < 500) throw err
      failure = err
    }
    if (attempt >= t.client.retries) {
      throw (
        failure ?? new RegistryError('ERR_UNAVAILABLE', { ...where, status: res?.status ?? 0 }, `upload failed at ${offset + from} bytes`)
      )
    }
    await t.client.backoff(attempt + 1)
    const held = await uploadedBytes(t, location, where).catch((err: unknown) => {
      if (err instanceof RegistryError && (err.status === 404 || err.status === 400)) {
        throw new SessionLost(`the registry lost the upload session at ${offset + from} bytes`)
      }
      throw err
    })
    if (held < offset || held > offset + chunk.length) {
      throw new RegistryError('ERR_UNAVAILABLE', where, `the registry holds ${held} bytes of the upload, outside the chunk at ${offset}`)
    }
    from = held - offset
    if (from === chunk.length) return location
  }
}

/** How many bytes an upload session holds, from the `Range: 0-N` of a GET on its URL. */
async function uploadedBytes(t: Target, location: string, where: Where): Promise<number> {
  const res = await t.client.request({ url: location, scope: pushScope(t.repository), where })
  await res.body?.cancel()
  if (res.status !== 204 && res.status !== 200) return t.client.fail(res, where, "could not read the upload's progress")
  const range = /^(?:bytes=)?0-(\d+)$/.exec(res.headers.get('range') ?? '')
  return range ? Number(range[1]) + 1 : 0
}
