/**
 * row: redirect-on-write block maps in LevelDB. Each snapshot is one
 * copy-on-write B+tree of items (inodes, directory entries, back references,
 * block pointers) in the store's own LevelDB; a child starts as its parent's
 * root, a write copies only the path to the leaf it changes and the blocks
 * it writes, and every object carries the generation that wrote it, so a
 * removed snapshot frees exactly its own generation without reference
 * counts. Files are reached through `open()`, and, as root with
 * /dev/fuse, through a FUSE mount of each active snapshot and view that
 * `mounts()` returns as a bind (see fusemounts.ts); without root, row works
 * through `open()` alone and declares no kernel mounts.
 *
 *   <root>/meta       LevelDB; the driver's sublevel `row` holds everything (see keys.ts)
 *   <root>/mnt/<id>   the FUSE mount of snapshot <id>, while it is served
 */
import { InvalidArgumentError } from '../../core/errors.js'
import { openBackedSnapshotter } from '../../core/backed.js'
import type { Snapshotter } from '../../core/snapshotter.js'
import { Store } from '../../core/store.js'
import { RowBackend, canMountFuse, rowDb, MOUNT_TYPE } from './backend.js'
import { countKeys, type RowKeyCounts } from './gc.js'
import { RowMounts } from './fusemounts.js'
import { formatKey } from './keys.js'
import type { RowDb } from './nodestore.js'
import { decodeFormatRecord, encodeFormatRecord, FORMAT_VERSION, type Format } from './format.js'

export { MOUNT_TYPE as ROW_MOUNT_TYPE, type RowKeyCounts }

export interface RowOptions {
  /** Bytes per data block: a power of two from 4 KiB to 1 MiB (default 64 KiB). Fixed when the store is created. */
  blockSize?: number
  /** Tree nodes split above this many bytes (default 4096). */
  nodeBytes?: number
  /** Files up to this size live inside their inode (default 2048, at most half of nodeBytes). */
  inlineBytes?: number
  /** Decoded tree nodes kept in memory (default 4096). */
  cacheNodes?: number
  /**
   * LevelDB's in-memory write buffer (default 64 MiB). Blocks are large
   * values: a small buffer flushes every batch and compaction dominates.
   */
  writeBufferSize?: number
}

const KiB = 1024

function intOption(opts: Record<string, unknown>, name: string, dflt: number, ok: (n: number) => boolean, rule: string): number {
  const v = opts[name]
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || !ok(v)) {
    throw new InvalidArgumentError(`row option ${name} must be ${rule}, got ${JSON.stringify(v)}`)
  }
  return v
}

interface Parsed {
  format: Format
  cacheNodes: number
  writeBufferSize: number
  blockSizeGiven: boolean
}

function parseOptions(options: unknown): Parsed {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidArgumentError('row options must be an object')
  }
  const o = (options ?? {}) as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!['blockSize', 'nodeBytes', 'inlineBytes', 'cacheNodes', 'writeBufferSize'].includes(k)) {
      throw new InvalidArgumentError(`unknown row option ${k}`)
    }
  }
  const isPow2 = (n: number): boolean => (n & (n - 1)) === 0
  const blockSize = intOption(
    o,
    'blockSize',
    64 * KiB,
    (n) => n >= 4 * KiB && n <= 1024 * KiB && isPow2(n),
    'a power of two from 4096 to 1048576',
  )
  const nodeBytes = intOption(o, 'nodeBytes', 4 * KiB, (n) => n >= 1 * KiB && n <= 64 * KiB, 'from 1024 to 65536')
  const inlineMax = intOption(
    o,
    'inlineBytes',
    Math.min(2 * KiB, nodeBytes / 2),
    (n) => n >= 0 && n <= nodeBytes / 2 && n < blockSize,
    'from 0 to half of nodeBytes',
  )
  const cacheNodes = intOption(o, 'cacheNodes', 4096, (n) => n >= 16, 'at least 16')
  const writeBufferSize = intOption(
    o,
    'writeBufferSize',
    64 * KiB * KiB,
    (n) => n >= 1 * KiB * KiB && n <= 1024 * KiB * KiB,
    'from 1 MiB to 1 GiB',
  )
  return { format: { blockSize, nodeBytes, inlineMax }, cacheNodes, writeBufferSize, blockSizeGiven: o.blockSize !== undefined }
}

/** The block size is the store's for life: recorded at first open, checked at every later one. */
async function settleFormat(store: Store, db: RowDb, format: Format, blockSizeGiven: boolean): Promise<Format> {
  const stored = await db.get(formatKey)
  if (stored === undefined) {
    await store
      .transaction()
      .put(db, formatKey, encodeFormatRecord({ version: FORMAT_VERSION, blockSize: format.blockSize }))
      .write({ sync: true })
    return format
  }
  const { version, blockSize } = decodeFormatRecord(stored)
  if (version !== FORMAT_VERSION) throw new InvalidArgumentError(`row store format ${version} is not supported (this is ${FORMAT_VERSION})`)
  if (blockSizeGiven && blockSize !== format.blockSize) {
    throw new InvalidArgumentError(
      `row store uses ${blockSize}-byte blocks, not ${format.blockSize}: the block size is fixed when a store is created`,
    )
  }
  return { ...format, blockSize, inlineMax: Math.min(format.inlineMax, blockSize - 1) }
}

export async function createRowSnapshotter(root: string, options: RowOptions = {}): Promise<Snapshotter> {
  const { format, cacheNodes, writeBufferSize, blockSizeGiven } = parseOptions(options)
  return openBackedSnapshotter({
    root,
    driver: 'row',
    store: { writeBufferSize },
    backend: async (store) => {
      const db = rowDb(store)
      const settled = await settleFormat(store, db, format, blockSizeGiven)
      let fuse: RowMounts | undefined
      if (canMountFuse()) {
        fuse = new RowMounts(store.root)
        await fuse.clearStale()
      }
      return new RowBackend(store, db, settled, cacheNodes, fuse)
    },
  })
}

/** Counts the driver's keys by kind in a closed row store (tests and benchmarks: is anything left?). */
export async function inspectRowStore(root: string): Promise<RowKeyCounts> {
  const store = await Store.open(root)
  try {
    return await countKeys(rowDb(store))
  } finally {
    await store.close()
  }
}
