/**
 * Images a store knows: a name (the tag), the image's config and DiffIDs, and
 * the ChainID of its top layer (the committed snapshot a container is
 * prepared on). A snapshotter built on core's wrapper keeps them in its
 * LevelDB (the `images` extension sublevel); for any other Snapshotter, `imagesOf` falls back to labels on
 * the top layer's snapshot, which hold the digests but not the config.
 */
import { syncBatches } from '../core/durable.js'
import { InvalidArgumentError, NotFoundError } from '../core/errors.js'
import type { Snapshotter } from '../core/snapshotter.js'
import { extensionOf, type Extension } from '../core/backed.js'
import { level, type Sublevel } from '../core/store.js'
import { checkKey, MAX_LABEL_BYTES } from '../core/validate.js'

export interface ImageRecord {
  /** The tag it was imported under. */
  name: string
  manifestDigest?: string
  configDigest: string
  /** The image config (absent from the label fallback). */
  config?: Record<string, unknown>
  diffIds: string[]
  /** ChainID of the top layer; absent for an image without layers. */
  chainId?: string | undefined
  /** When it was imported (ms since the epoch). */
  created: number
  /**
   * The compressed blob each layer came in from a registry or went out in to
   * one, by DiffID: what lets a push send a pulled layer back by digest (HEAD
   * or cross-repository mount) instead of exporting it again.
   */
  blobs?: Record<string, LayerBlobRecord>
  /** The image as a registry holds it, bytes unchanged, for a push to send as it is. */
  distribution?: DistributionRecord
}

export interface LayerBlobRecord {
  digest: string
  size: number
  mediaType: string
  /** The DiffID of the blob when it is not the one it is filed under (a re-exported layer). */
  diffId?: string
  /** Repositories (`registry/name`) known to hold the blob. */
  sources: string[]
}

export interface DistributionRecord {
  manifest: { mediaType: string; json: string }
  config: string
  /** Repositories (`registry/name`) the manifest was pulled from or pushed to. */
  sources: string[]
}

export interface ImageStore {
  /** Records `rec` under `rec.name`, replacing an image of that name. */
  put(rec: ImageRecord): Promise<void>
  get(name: string): Promise<ImageRecord | undefined>
  list(): Promise<ImageRecord[]>
  /** Forgets the name; the layers stay (they may be shared). Missing: ERR_NOT_FOUND. */
  delete(name: string): Promise<void>
}

export function imagesOf(sn: Snapshotter): ImageStore {
  const ext = extensionOf<ImageRecord>(sn, 'images')
  return ext === undefined ? new LabelImageStore(sn) : new LevelImageStore(ext)
}

function checkRecord(rec: ImageRecord): void {
  checkKey(rec?.name, 'image name')
  if (typeof rec.configDigest !== 'string' || !Array.isArray(rec.diffIds)) {
    throw new InvalidArgumentError(`image ${JSON.stringify(rec.name)} needs a configDigest and diffIds`)
  }
}

/** Images in the store's LevelDB: one record per name. */
export class LevelImageStore implements ImageStore {
  readonly #db: Sublevel<string, ImageRecord>
  readonly #alive: () => void

  constructor(ext: Extension<ImageRecord>) {
    this.#db = ext.db
    this.#alive = () => ext.alive()
  }

  async put(rec: ImageRecord): Promise<void> {
    this.#alive()
    checkRecord(rec)
    // Synced: an import returns only once its image record survives a power cut.
    await level(() => this.#db.put(rec.name, structuredClone(rec), { sync: syncBatches() } as object))
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    this.#alive()
    checkKey(name, 'image name')
    return level(() => this.#db.get(name))
  }

  async list(): Promise<ImageRecord[]> {
    this.#alive()
    return level(async () => {
      const out: ImageRecord[] = []
      for await (const rec of this.#db.values()) out.push(rec)
      return out
    })
  }

  async delete(name: string): Promise<void> {
    this.#alive()
    checkKey(name, 'image name')
    await level(async () => {
      if ((await this.#db.get(name)) === undefined) throw new NotFoundError(`image ${JSON.stringify(name)} does not exist`)
      await this.#db.del(name, { sync: syncBatches() } as object)
    })
  }
}

const LABEL_PREFIX = 'strata.io/image.'

/**
 * The fallback: a label `strata.io/image.<name>` on the top layer's snapshot
 * holds the record without its config and registry blobs (a push exports
 * such an image's layers again). Images without layers cannot be kept.
 */
export class LabelImageStore implements ImageStore {
  readonly #sn: Snapshotter

  constructor(sn: Snapshotter) {
    this.#sn = sn
  }

  async put(rec: ImageRecord): Promise<void> {
    checkRecord(rec)
    if (rec.chainId === undefined) throw new InvalidArgumentError(`image ${JSON.stringify(rec.name)} has no layers to label`)
    const { config: _config, blobs: _blobs, distribution: _distribution, ...kept } = rec
    const value = JSON.stringify(kept)
    if (Buffer.byteLength(LABEL_PREFIX + rec.name) + Buffer.byteLength(value) > MAX_LABEL_BYTES) {
      throw new InvalidArgumentError(`image ${JSON.stringify(rec.name)} has too many layers to keep in a label`)
    }
    const old = await this.get(rec.name)
    if (old?.chainId !== undefined && old.chainId !== rec.chainId) await this.delete(rec.name)
    await this.#sn.update({ name: rec.chainId, labels: { [LABEL_PREFIX + rec.name]: value } }, [`labels.${LABEL_PREFIX}${rec.name}`])
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    checkKey(name, 'image name')
    return (await this.list()).find((r) => r.name === name)
  }

  async list(): Promise<ImageRecord[]> {
    const out: ImageRecord[] = []
    for await (const info of this.#sn.walk()) {
      for (const [k, v] of Object.entries(info.labels)) {
        if (k.startsWith(LABEL_PREFIX)) out.push(JSON.parse(v) as ImageRecord)
      }
    }
    return out
  }

  async delete(name: string): Promise<void> {
    const rec = await this.get(name)
    if (!rec?.chainId) throw new NotFoundError(`image ${JSON.stringify(name)} does not exist`)
    await this.#sn.update({ name: rec.chainId, labels: {} }, [`labels.${LABEL_PREFIX}${name}`])
  }
}
