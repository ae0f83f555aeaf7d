/**
 * `pullImage(sn, ref)`: a registry image into the store, as `importImage`
 * does for files. Layers already stored (by ChainID) are not fetched; the
 * rest download in parallel (bounded by `jobs`) and apply in chain order:
 * the next layer to apply streams straight from the registry into
 * `unpackLayer`, the ones after it are spooled to files under the store's
 * tmp/ meanwhile (never a layer in memory), each verified as it arrives. Any
 * failure aborts every download and removes the layers this pull made, so
 * the store ends as it was or with the whole image.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { chainIds } from '../layers/digest.js'
import { isCommitted, unpackLayer, type ImportResult } from '../image/import.js'
import { imagesOf, type ImageRecord, type LayerBlobRecord } from '../image/store.js'
import type { ApplyOptions } from '../layers/apply.js'
import type { Snapshotter } from '../core/snapshotter.js'
import { type ClientOptions, RegistryClient } from './client.js'
import type { Platform } from './manifest.js'
import { formatReference, parseReference, type Reference, repositoryOf } from './reference.js'
import { openRegistryImage, type RegistryImage, type RegistryLayerBlob } from './source.js'

export interface PullProgress {
  /** 0-based index of the layer. */
  layer: number
  layers: number
  /** The layer blob's digest. */
  digest: string
  /** 'reused': already stored; 'downloading': bytes received so far; 'applying': downloaded, being unpacked; 'done': committed. */
  phase: 'reused' | 'downloading' | 'applying' | 'done'
  bytes: number
  total: number
}

export interface PullOptions extends ClientOptions, Omit<ApplyOptions, 'onBytes'> {
  /** Which image of a multi-platform index (default: linux and this machine's architecture). */
  platform?: Platform
  /** The name to keep the image under (default: the full reference, `docker.io/library/busybox:latest`). */
  tag?: string
  /** Blobs downloading at once (default 3). */
  jobs?: number
  /** Most layers an image may have (default 256). */
  maxLayers?: number
  /** Where downloads wait for their turn (default: the store's tmp/, else the system's). */
  spoolDir?: string
  /** A client to reuse (its tokens), instead of one made from these options. */
  client?: RegistryClient
  onProgress?: (p: PullProgress) => void
}

export interface PullResult extends ImportResult {
  /** The reference pulled, in full. */
  reference: string
  /** Compressed bytes fetched from the registry. */
  fetchedBytes: number
}

export async function pullImage(sn: Snapshotter, reference: string | Reference, opts: PullOptions = {}): Promise<PullResult> {
  const ref = typeof reference === 'string' ? parseReference(reference) : reference
  const client = opts.client ?? new RegistryClient(ref.registry, opts)
  const source = await openRegistryImage(client, ref, {
    ...(opts.platform ? { platform: opts.platform } : {}),
    ...(opts.maxLayers === undefined ? {} : { maxLayers: opts.maxLayers }),
  })
  const ids = chainIds(source.config.rootfs.diff_ids)
  let stored = ids.length
  while (stored > 0 && !(await isCommitted(sn, ids[stored - 1]))) stored--
  for (let i = 0; i < stored; i++) progress(opts, source, i, 'reused', source.layers[i].size)
  const needed = ids.map((_, i) => i).filter((i) => i >= stored)
  const made: string[] = []
  const dropped = { xattrs: 0, devices: 0 }
  const downloads = new Downloads(source, needed, opts)
  try {
    await downloads.open(opts.spoolDir ?? join((sn as { root?: string }).root ?? tmpdir(), 'tmp'))
    for (const i of needed) {
      const layer = source.layers[i]
      const blob = await downloads.take(i)
      progress(opts, source, i, 'applying', layer.size)
      const applied = await unpackLayer(sn, blob, {
        ...applyOptions(opts),
        name: ids[i],
        ...(i > 0 ? { parent: ids[i - 1] } : {}),
        expect: { diffId: layer.diffId, size: layer.size },
      })
      downloads.applied(i)
      if (applied) {
        made.push(ids[i])
        dropped.xattrs += applied.dropped.xattrs
        dropped.devices += applied.dropped.devices
      }
      progress(opts, source, i, 'done', layer.size)
    }
    const rec = record(source, ref, ids, opts.tag)
    await imagesOf(sn).put(rec)
    return {
      reference: formatReference(ref),
      name: rec.name,
      chainIds: ids,
      config: source.config,
      configDigest: source.configDigest,
      manifestDigest: source.manifestDigest,
      reused: ids.length - made.length,
      dropped,
      fetchedBytes: downloads.fetchedBytes,
    }
  } catch (err) {
    await downloads.abort()
    for (const name of made.reverse()) await sn.remove(name).catch(() => {})
    throw downloads.firstError ?? err
  } finally {
    await downloads.close()
    await source.close()
  }
}

function applyOptions(opts: PullOptions): ApplyOptions {
  const { maxBytes, maxRatio, ratioAfterBytes, maxHeaderBytes, devices } = opts
  return Object.fromEntries(
    Object.entries({ maxBytes, maxRatio, ratioAfterBytes, maxHeaderBytes, devices }).filter(([, v]) => v !== undefined),
  )
}

function progress(opts: PullOptions, source: RegistryImage, layer: number, phase: PullProgress['phase'], bytes: number): void {
  opts.onProgress?.({
    layer,
    layers: source.layers.length,
    digest: source.layers[layer].digest,
    phase,
    bytes,
    total: source.layers[layer].size,
  })
}

/** The image record: the config, and the registry's bytes so a push can send them back unchanged. */
function record(source: RegistryImage, ref: Reference, ids: string[], tag?: string): ImageRecord {
  const from = repositoryOf(ref)
  const blobs: Record<string, LayerBlobRecord> = {}
  for (const l of source.layers) blobs[l.diffId] = { digest: l.digest, size: l.size, mediaType: l.mediaType, sources: [from] }
  const rec: ImageRecord = {
    name: tag ?? formatReference(ref),
    manifestDigest: source.manifestDigest,
    configDigest: source.configDigest,
    config: source.config,
    diffIds: source.config.rootfs.diff_ids,
    created: Date.now(),
    blobs,
    distribution: { manifest: source.manifest, config: source.configJson, sources: [from] },
  }
  if (ids.length > 0) rec.chainId = ids.at(-1)
  return rec
}

/**
 * The downloads of one pull: a layer whose turn has come streams directly;
 * up to `jobs - 1` others are spooled to files meanwhile, in chain order.
 * The first failure of any of them aborts all.
 */
class Downloads {
  readonly #source: RegistryImage
  readonly #queue: number[]
  readonly #jobs: number
  readonly #opts: PullOptions
  readonly #abort = new AbortController()
  readonly #spooled = new Map<number, Promise<string>>()
  #dir?: string
  #spooling = 0
  #received = new Map<number, number>()
  firstError?: unknown

  constructor(source: RegistryImage, needed: number[], opts: PullOptions) {
    this.#source = source
    this.#queue = needed.slice(1)
    this.#jobs = Math.max(1, opts.jobs ?? 3)
    this.#opts = opts
  }

  get fetchedBytes(): number {
    let n = 0
    for (const b of this.#received.values()) n += b
    return n
  }

  async open(parent: string): Promise<void> {
    if (this.#queue.length === 0 || this.#jobs === 1) return
    await mkdir(parent, { recursive: true, mode: 0o700 })
    this.#dir = await mkdtemp(join(parent, 'pull-'))
    this.#pump()
  }

  /** The blob of layer `i`, whose turn has come: its spooled file, or a direct stream. */
  async take(i: number): Promise<Readable> {
    const spooled = this.#spooled.get(i)
    if (spooled !== undefined) return createReadStream(await spooled, { highWaterMark: 1 << 20 })
    const queued = this.#queue.indexOf(i)
    if (queued >= 0) this.#queue.splice(queued, 1)
    return this.#fetch(this.#source.layers[i], i)
  }

  /** Layer `i` is in the store: its spool file goes. */
  applied(i: number): void {
    const spooled = this.#spooled.get(i)
    if (spooled === undefined) return
    this.#spooled.delete(i)
    spooled
      .then(
        (path) => rm(path, { force: true }),
        () => {},
      )
      .catch(() => {})
  }

  async abort(): Promise<void> {
    this.#abort.abort()
    await Promise.allSettled([...this.#spooled.values()])
  }

  async close(): Promise<void> {
    this.#abort.abort()
    await Promise.allSettled([...this.#spooled.values()])
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true })
  }

  #fetch(layer: RegistryLayerBlob, i: number): Readable {
    return layer.fetch({
      signal: this.#abort.signal,
      onBytes: (bytes) => {
        this.#received.set(i, bytes)
        progress(this.#opts, this.#source, i, 'downloading', bytes)
      },
    })
  }

  /** Keeps `jobs - 1` spool downloads going beside the direct one. */
  #pump(): void {
    while (this.#dir && this.#spooling < this.#jobs - 1 && this.#queue.length > 0 && !this.#abort.signal.aborted) {
      const i = this.#queue.shift() as number
      this.#spooling++
      const path = join(this.#dir, `layer-${i}`)
      const job = pipeline(this.#fetch(this.#source.layers[i], i), createWriteStream(path, { mode: 0o600 })).then(() => path)
      job
        .catch((err: unknown) => {
          if (!this.#abort.signal.aborted) this.firstError ??= err
          this.#abort.abort()
        })
        .finally(() => {
          this.#spooling--
          this.#pump()
        })
      this.#spooled.set(i, job)
    }
  }
}
