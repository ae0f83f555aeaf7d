/**
 * The values of a snapshot's items, and the access every operation needs:
 * a read-only view of one tree, or an edit that changes it. Values are
 * msgpack arrays (short, positional) so a leaf of 4 KiB holds about a
 * hundred block pointers or a few dozen inodes.
 */
import type { BlockPtr } from './format.js'
import type { Ptr } from './node.js'
import type { NodeSource } from './nodestore.js'
import { lookup, scan } from './tree.js'

export const ROOT_INO = 1

/** Read access to one tree as it stands. */
export interface Items {
  readonly root: Ptr
  readonly blockSize: number
  get(key: Buffer): Buffer | undefined
  scan(lo: Buffer, hi: Buffer, fn: (k: Buffer, v: Buffer) => boolean | void): void
  /** A data block's bytes. */
  block(p: BlockPtr): Buffer
}

/** A tree as it stands: reads only. */
export class Reader implements Items {
  readonly root: Ptr
  readonly blockSize: number
  readonly #src: NodeSource

  constructor(src: NodeSource, root: Ptr, blockSize: number) {
    this.#src = src
    this.root = root
    this.blockSize = blockSize
  }

  get(key: Buffer): Buffer | undefined {
    return lookup(this.#src, this.root, key)
  }

  scan(lo: Buffer, hi: Buffer, fn: (k: Buffer, v: Buffer) => boolean | void): void {
    scan(this.#src, this.root, lo, hi, fn)
  }

  block(p: BlockPtr): Buffer {
    return this.#src.block(p)
  }
}

/** An open change to one active snapshot's tree: everything in it lands in one batch. */
export interface ItemEdit extends Items {
  readonly gen: number
  /** The largest file kept inside its inode. */
  readonly inlineMax: number
  put(key: Buffer, val: Buffer): void
  del(key: Buffer): Buffer | undefined
  /** Deletes [lo, hi); `onItem` sees the deleted items that lived in nodes of this generation. */
  delRange(lo: Buffer, hi: Buffer, onItem: (k: Buffer, v: Buffer) => void): void
  allocIno(): number
  /** Stores a new block born in this generation. */
  newBlock(data: Buffer): BlockPtr
  /** Replaces the bytes of a block born in this generation, in place. */
  rewriteBlock(p: BlockPtr, data: Buffer): BlockPtr
  /** Frees a block if this generation owns it. */
  freeBlock(p: BlockPtr): void
  /** Adds to the count of inodes this generation owns. */
  countInodes(delta: number): void
}
