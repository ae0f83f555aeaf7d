/**
 * Image import: each layer becomes a committed snapshot named by its ChainID
 * (prepare on the previous ChainID → open → applyLayer → verify → commit). A
 * ChainID already present is reused, not stored again: the layer dedup of
 * Docker's layerdb. A layer that fails any check (blob digest and size, DiffID
 * against the config's rootfs.diff_ids, the apply itself) leaves nothing: its
 * half-made snapshot is removed and the error is thrown.
 */
import { stat } from 'node:fs/promises'
import { type Readable, Transform, type TransformCallback } from 'node:stream'
import { chainIds, DigestMeter } from '../layers/digest.js'
import { isSnapshotterError } from '../core/errors.js'
import { openDockerArchive } from './dockerarchive.js'
import { imagesOf, type ImageRecord } from './store.js'
import { applyLayer, type ApplyOptions, type ApplyResult } from '../layers/apply.js'
import { InvalidLayerError } from '../layers/errors.js'
import type { ImageSource, LayerBlob, SelectOptions } from './source.js'
import { isOciLayout, openOciLayout } from './ocilayout.js'
import type { Snapshotter } from '../core/snapshotter.js'
import { buildSnapshot } from '../layers/build.js'

export interface ImportProgress {
  /** 0-based index of the layer. */
  layer: number
  layers: number
  chainId: string
  /** 'reused': already in the store; 'reading': bytes of the blob read so far; 'done': committed. */
  phase: 'reused' | 'reading' | 'done'
  /** Blob bytes read (as stored, compressed or not). */
  bytes: number
  /** The blob's size, when the image records it. */
  total?: number | undefined
}

export interface ImportOptions extends ApplyOptions, SelectOptions {
  /** The name to keep the image under (default: its ref in the source, else its config digest). */
  tag?: string
  onProgress?: (p: ImportProgress) => void
  /**
   * Stops the import: the layer being unpacked is removed and the call
   * rejects with the signal's reason; layers already committed stay (they are
   * whole, and a new import reuses them). The image is not recorded.
   */
  signal?: AbortSignal
}

export interface ImportResult {
  /** The ChainID of every layer, base first: the names of the committed snapshots. */
  chainIds: string[]
  config: object
  configDigest: string
  manifestDigest?: string
  /** The name the image is kept under. */
  name: string
  /** How many layers were already present and reused. */
  reused: number
  /**
   * What the layers held that the snapshots could not keep, per kind, summed
   * over the layers applied now: xattrs (trusted.overlay.*, or a namespace
   * the file system refuses) and device nodes (with `devices: 'skip'`).
   */
  dropped: { xattrs: number; devices: number }
}

/** Opens an OCI layout directory or a docker-archive tarball. */
export async function openImage(path: string, opts: SelectOptions = {}): Promise<ImageSource> {
  const st = await stat(path).catch((err: unknown) => {
    throw new InvalidLayerError('bad-image', `${path} does not exist`, { cause: err })
  })
  if (st.isDirectory()) {
    if (!(await isOciLayout(path))) throw new InvalidLayerError('bad-image', `${path} is a directory without oci-layout`)
    return openOciLayout(path, opts)
  }
  return openDockerArchive(path, opts)
}

export async function importImage(sn: Snapshotter, path: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const source = await openImage(path, opts)
  try {
    const ids = chainIds(source.config.rootfs.diff_ids)
    let reused = 0
    const dropped = { xattrs: 0, devices: 0 }
    for (const [i, layer] of source.layers.entries()) {
      opts.signal?.throwIfAborted()
      const progress = (phase: ImportProgress['phase'], bytes: number): void =>
        opts.onProgress?.({ layer: i, layers: ids.length, chainId: ids[i], phase, bytes, total: layer.size })
      if (await isCommitted(sn, ids[i])) {
        reused++
        progress('reused', layer.size ?? 0)
        continue
      }
      const made = await unpackLayer(sn, await layer.open(), {
        ...opts,
        name: ids[i],
        parent: ids[i - 1],
        expect: layer,
        onRead: (bytes) => progress('reading', bytes),
      })
      if (!made) reused++
      else {
        dropped.xattrs += made.dropped.xattrs
        dropped.devices += made.dropped.devices
      }
      progress('done', layer.size ?? 0)
    }
    opts.signal?.throwIfAborted()
    const name = opts.tag ?? source.ref ?? source.configDigest
    const rec: ImageRecord = {
      name,
      configDigest: source.configDigest,
      config: source.config,
      diffIds: source.config.rootfs.diff_ids,
      created: Date.now(),
    }
    if (source.manifestDigest !== undefined) rec.manifestDigest = source.manifestDigest
    if (ids.length > 0) rec.chainId = ids.at(-1)
    await imagesOf(sn).put(rec)
    const result: ImportResult = { chainIds: ids, config: source.config, configDigest: source.configDigest, name, reused, dropped }
    if (source.manifestDigest !== undefined) result.manifestDigest = source.manifestDigest
    return result
  } finally {
    await source.close()
  }
}

/** True when `name` is a committed snapshot (a layer already stored). */
export async function isCommitted(sn: Snapshotter, name: string): Promise<boolean> {
  try {
    return (await sn.stat(name)).kind === 'committed'
  } catch (err) {
    if (isSnapshotterError(err, 'ERR_NOT_FOUND')) return false
    throw err
  }
}

export interface UnpackOptions extends ApplyOptions {
  /** The committed snapshot to make. */
  name: string
  parent?: string
  /** What the layer must turn out to be: DiffID, and the blob's digest and size when known. */
  expect?: Pick<LayerBlob, 'diffId' | 'digest' | 'size'>
  /** Blob bytes read so far. */
  onRead?: (bytes: number) => void
  /** Aborting it ends the read with the signal's reason; the half-made snapshot is removed. */
  signal?: AbortSignal | undefined
}

/**
 * Applies one layer blob as a new committed snapshot `name` on `parent`.
 * Returns the apply result, or undefined when `name` appeared meanwhile (a
 * concurrent import of the same layer): the existing one is kept. On any
 * failure the half-made snapshot is removed before the error is thrown.
 */
export async function unpackLayer(sn: Snapshotter, blob: Readable, opts: UnpackOptions): Promise<ApplyResult | undefined> {
  // A blob with no digest to check (a registry stream verifies its own) is counted, not hashed a second time.
  const blobMeter = opts.expect?.digest === undefined ? new ByteMeter() : new DigestMeter()
  const abort = (): void => {
    blob.destroy(opts.signal?.reason as Error)
  }
  opts.signal?.throwIfAborted()
  opts.signal?.addEventListener('abort', abort, { once: true })
  try {
    const built = await buildSnapshot(sn, { purpose: 'unpack', parent: opts.parent, name: opts.name }, async (fs) => {
      blob.on('error', (err) => blobMeter.destroy(err))
      let last = 0
      const counted = blob.pipe(blobMeter)
      const result = await applyLayer(fs, counted, {
        ...opts,
        onBytes: () => {
          if (blobMeter.bytes - last < 1 << 20) return
          last = blobMeter.bytes
          opts.onRead?.(last)
        },
      })
      await finished(blobMeter)
      verify(opts, result, blobMeter)
      return result
    })
    return built.reused ? undefined : built.result
  } catch (err) {
    blob.destroy()
    throw err
  } finally {
    opts.signal?.removeEventListener('abort', abort)
  }
}

/** Waits until every byte of the blob has been hashed (a tar may end before its padding does). */
async function finished(meter: Transform): Promise<void> {
  if (meter.readableEnded) return
  meter.resume()
  await new Promise<void>((resolve, reject) => {
    meter.once('end', resolve).once('error', reject)
  })
}

/** Counts the bytes that pass. */
class ByteMeter extends Transform {
  bytes = 0
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length
    cb(null, chunk)
  }
}

function verify(opts: UnpackOptions, result: ApplyResult, blob: DigestMeter | ByteMeter): void {
  const want = opts.expect
  if (!want) return
  if (want.size !== undefined && blob.bytes !== want.size) {
    throw new InvalidLayerError('digest-mismatch', `layer ${opts.name}: blob is ${blob.bytes} bytes, the manifest says ${want.size}`)
  }
  if (want.digest !== undefined && blob instanceof DigestMeter && blob.digest !== want.digest) {
    throw new InvalidLayerError('digest-mismatch', `layer ${opts.name}: blob digest is ${blob.digest}, the manifest says ${want.digest}`)
  }
  if (result.diffId !== want.diffId) {
    throw new InvalidLayerError('digest-mismatch', `layer ${opts.name}: DiffID is ${result.diffId}, the config says ${want.diffId}`)
  }
}
