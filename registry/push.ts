/**
 * `pushImage(sn, image, ref)`: an image of the store into a repository.
 * Each layer goes by the cheapest way that keeps its bytes: nothing when the
 * registry has its blob (HEAD), a cross-repository mount when a repository
 * of the same registry holds the blob it was pulled in (or pushed as), a
 * copy streamed from another registry that holds it (verified on the way),
 * and only otherwise `exportDiff` + gzip streamed as a new blob. A pulled image
 * whose blobs are all reachable is sent with its manifest and config bytes
 * unchanged, so every digest stays; a re-exported layer gets a new blob (and,
 * if the tar differs, a new DiffID in a new config). What was pushed is
 * recorded, so the next push of the image sends no layer bytes.
 */
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { chainIds, DigestMeter, sha256Digest } from '../layers/digest.js'
import { FailedPreconditionError, NotFoundError } from '../core/errors.js'
import { imagesOf, type DistributionRecord, type ImageRecord, type LayerBlobRecord } from '../image/store.js'
import { exportDiff } from '../layers/export.js'
import type { Snapshotter } from '../core/snapshotter.js'
import { type ClientOptions, RegistryClient } from './client.js'
import { isRegistryError, RegistryError } from './errors.js'
import { blobStream, pullScope, type Repo } from './fetchblob.js'
import { InvalidLayerError } from '../layers/errors.js'
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, ociLayerType } from './manifest.js'
import { formatReference, parseReference, type Reference, repositoryOf } from './reference.js'
import { hasBlob, mountBlob, pushScope, type Target, uploadBuffer, uploadStream } from './upload.js'

export type LayerPush = 'present' | 'mounted' | 'copied' | 'uploaded'

export interface PushProgress {
  layer: number
  layers: number
  phase: 'checking' | 'uploading' | LayerPush
  /** Bytes acknowledged by the registry (uploads only). */
  bytes: number
}

export interface PushOptions extends ClientOptions {
  /** Bytes per PATCH of a streamed layer (default 32 MiB). */
  chunkBytes?: number
  /** Layers in flight at once (default 3). */
  jobs?: number
  client?: RegistryClient
  /** The client for another registry a blob was pulled from (default: anonymous, the same --insecure, loopback may use HTTP). */
  sourceClient?: (registry: string) => RegistryClient
  onProgress?: (p: PushProgress) => void
}

export interface PushResult {
  reference: string
  /** The manifest's digest: `REF@digest` pulls exactly this image. */
  digest: string
  layers: Array<{ digest: string; size: number; how: LayerPush }>
  /** Layer bytes sent (resends included); 0 when every layer was there or mounted. */
  uploadedBytes: number
  /** True when the manifest and config went out as they were pulled (every digest unchanged). */
  unchanged: boolean
}

interface Sent {
  blob: LayerBlobRecord
  how: LayerPush
  sent: number
}

export async function pushImage(
  sn: Snapshotter,
  image: string,
  reference: string | Reference,
  opts: PushOptions = {},
): Promise<PushResult> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference
  const rec = await imagesOf(sn).get(image)
  if (!rec) throw new NotFoundError(`image ${JSON.stringify(image)} does not exist (strata images lists them)`)
  if (!rec.config) throw new FailedPreconditionError(`image ${JSON.stringify(image)} has no config in this store, so it cannot be pushed`)
  const name = formatReference(ref)
  const target: Target = { client: opts.client ?? new RegistryClient(ref.registry, opts), repository: ref.repository, ref: name }
  const ids = chainIds(rec.diffIds)
  const sent = await mapLimit(rec.diffIds, opts.jobs ?? 3, (_diffId, i) => pushLayer(sn, target, rec, ids[i], i, opts))
  const built = manifestFor(
    rec,
    sent.map((s) => s.blob),
  )
  const configDigest = sha256Digest(built.config)
  if (!(await hasBlob(target, configDigest))) await uploadBuffer(target, Buffer.from(built.config), configDigest)
  const digest = await putManifest(target, ref, built.manifest)
  await remember(sn, image, rec, sent, built, repositoryOf(ref))
  return {
    reference: name,
    digest,
    unchanged: built.unchanged,
    layers: sent.map((s) => ({ digest: s.blob.digest, size: s.blob.size, how: s.how })),
    uploadedBytes: sent.reduce((n, s) => n + s.sent, 0),
  }
}

async function pushLayer(sn: Snapshotter, t: Target, rec: ImageRecord, chainId: string, i: number, opts: PushOptions): Promise<Sent> {
  const layers = rec.diffIds.length
  const diffId = rec.diffIds[i]
  const say = (phase: PushProgress['phase'], bytes = 0): void => opts.onProgress?.({ layer: i, layers, phase, bytes })
  say('checking')
  const known = rec.blobs?.[diffId]
  if (known) {
    if (await hasBlob(t, known.digest)) {
      say('present')
      return { blob: known, how: 'present', sent: 0 }
    }
    for (const source of known.sources) {
      const slash = source.indexOf('/')
      if (source.slice(0, slash) !== t.client.registry || source.slice(slash + 1) === t.repository) continue
      if (await mountBlob(t, known.digest, source.slice(slash + 1))) {
        say('mounted')
        return { blob: known, how: 'mounted', sent: 0 }
      }
    }
    const copied = await copyFromSource(t, known, opts, (bytes) => say('uploading', bytes))
    if (copied !== undefined) {
      say('copied', known.size)
      return { blob: known, how: 'copied', sent: copied }
    }
  }
  say('uploading')
  const up = await uploadLayer(sn, t, chainId, opts, (bytes) => say('uploading', bytes))
  say('uploaded', up.blob.size)
  return { ...up, blob: { ...up.blob, ...(up.diffId === diffId ? {} : { diffId: up.diffId }) }, how: 'uploaded' }
}

/**
 * Streams the blob from the first other registry that still serves it
 * (checked against its digest as it passes); undefined when none does, so
 * the layer is exported instead. Returns the bytes sent.
 */
async function copyFromSource(
  t: Target,
  blob: LayerBlobRecord,
  opts: PushOptions,
  onBytes: (n: number) => void,
): Promise<number | undefined> {
  for (const source of blob.sources) {
    const slash = source.indexOf('/')
    const registry = source.slice(0, slash)
    if (registry === t.client.registry) continue
    const client =
      opts.sourceClient?.(registry) ??
      new RegistryClient(registry, {
        ...(opts.insecure ? { insecure: true } : {}),
        ...(opts.retries === undefined ? {} : { retries: opts.retries }),
        ...(opts.backoffMs === undefined ? {} : { backoffMs: opts.backoffMs }),
      })
    const from = { client, repository: source.slice(slash + 1), ref: `${source}@${blob.digest}` }
    if (!(await sourceHas(from, blob.digest))) continue
    try {
      const up = await uploadStream(t, () => blobStream(from, blob), {
        ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}),
        onBytes,
      })
      if (up.digest === blob.digest) return up.sent
    } catch (err) {
      // The source failing sends us on to the next one (or to an export); an error of the target is the push's.
      if (!fromSource(err, from.ref)) throw err
    }
  }
  return undefined
}

/** HEAD on the source first, so a source that is gone or refuses us costs no upload session at the target. */
async function sourceHas(from: Repo, digest: string): Promise<boolean> {
  try {
    const res = await from.client.request({
      method: 'HEAD',
      url: `/v2/${from.repository}/blobs/${digest}`,
      scope: pullScope(from.repository),
      where: { ref: from.ref, step: 'blob' },
    })
    await res.body?.cancel()
    return res.status === 200
  } catch {
    return false
  }
}

function fromSource(err: unknown, ref: string): boolean {
  return (isRegistryError(err) && err.ref === ref) || (err instanceof InvalidLayerError && err.message.startsWith(`${ref}:`))
}

/** exportDiff → DiffID meter → gzip → upload, streamed. */
async function uploadLayer(
  sn: Snapshotter,
  t: Target,
  chainId: string,
  opts: PushOptions,
  onBytes: (n: number) => void,
): Promise<{ blob: LayerBlobRecord; diffId: string; sent: number }> {
  let meter = new DigestMeter()
  let piping: Promise<void> = Promise.resolve()
  const open = (): Readable => {
    meter = new DigestMeter()
    const gzip = createGzip()
    piping = pipeline(exportDiff(sn, chainId), meter, gzip)
    piping.catch(() => {})
    return gzip
  }
  const up = await uploadStream(t, open, { ...(opts.chunkBytes ? { chunkBytes: opts.chunkBytes } : {}), onBytes })
  await piping
  return { blob: { digest: up.digest, size: up.size, mediaType: OCI_LAYER_GZIP, sources: [] }, diffId: meter.digest, sent: up.sent }
}

interface Built {
  manifest: { mediaType: string; json: string }
  config: string
  unchanged: boolean
}

/** The pulled manifest and config when they describe exactly these blobs; else new ones (OCI). */
function manifestFor(rec: ImageRecord, blobs: LayerBlobRecord[]): Built {
  const dist = rec.distribution
  if (dist && sameLayers(dist, blobs)) return { manifest: dist.manifest, config: dist.config, unchanged: true }
  const config = JSON.stringify({ ...rec.config, rootfs: { type: 'layers', diff_ids: blobs.map((b, i) => b.diffId ?? rec.diffIds[i]) } })
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256Digest(config), size: Buffer.byteLength(config) },
    layers: blobs.map((b) => ({ mediaType: ociLayerType(b.mediaType), digest: b.digest, size: b.size })),
  }
  return { manifest: { mediaType: OCI_MANIFEST, json: JSON.stringify(manifest) }, config, unchanged: false }
}

function sameLayers(dist: DistributionRecord, blobs: LayerBlobRecord[]): boolean {
  try {
    const layers = (JSON.parse(dist.manifest.json) as { layers?: Array<{ digest?: string }> }).layers ?? []
    return layers.length === blobs.length && layers.every((l, i) => l.digest === blobs[i].digest)
  } catch {
    return false
  }
}

async function putManifest(t: Target, ref: Reference, manifest: { mediaType: string; json: string }): Promise<string> {
  const where = { ref: t.ref, step: 'tag' as const }
  const body = Buffer.from(manifest.json)
  const digest = sha256Digest(body)
  const res = await t.client.request({
    method: 'PUT',
    url: `/v2/${t.repository}/manifests/${ref.digest ?? ref.tag ?? 'latest'}`,
    body,
    headers: { 'content-type': manifest.mediaType },
    scope: pushScope(t.repository),
    where,
  })
  await res.body?.cancel()
  if (res.status !== 201 && res.status !== 200) await t.client.fail(res, where, 'the registry did not take the manifest')
  if (ref.digest !== undefined && ref.digest !== digest) {
    throw new RegistryError('ERR_INVALID_ARGUMENT', where, `the manifest's digest is ${digest}, not the ${ref.digest} asked for`)
  }
  return digest
}

/** Records where the blobs and the manifest now are, for the next push (the image may have changed meanwhile: then not). */
async function remember(sn: Snapshotter, image: string, rec: ImageRecord, sent: Sent[], built: Built, target: string): Promise<void> {
  const now = await imagesOf(sn).get(image)
  if (!now || now.configDigest !== rec.configDigest || now.chainId !== rec.chainId) return
  const blobs: Record<string, LayerBlobRecord> = { ...now.blobs }
  sent.forEach((s, i) => {
    const sources = new Set([...(s.blob.sources ?? []), target])
    blobs[rec.diffIds[i]] = { ...s.blob, sources: [...sources] }
  })
  const sources = built.unchanged ? new Set([...(now.distribution?.sources ?? []), target]) : new Set([target])
  await imagesOf(sn).put({ ...now, blobs, distribution: { manifest: built.manifest, config: built.config, sources: [...sources] } })
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  let failed = false
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const i = next++
      try {
        out[i] = await fn(items[i], i)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker))
  return out
}
