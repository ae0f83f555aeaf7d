/**
 * A regular file's bytes. Small files live inside their inode; larger ones
 * are fixed-size blocks, one item per block, and a missing block is a hole
 * that reads as zeros. A block never holds bytes past the end of the file,
 * so growing a file again shows zeros where it was cut.
 *
 * A write to a block born in an ancestor's generation redirects: the new
 * bytes go to a new block of this generation and only that block's pointer
 * changes. A block this generation already owns is rewritten in place.
 */
import { toNs as msToNs } from '../../fs/times.js'
import { blockKey, blocksFrom, readU64 } from './keys.js'
import { posixError } from '../../core/errors.js'
import type { Edit } from './edit.js'
import { freeing, handleInode, putInode } from './namespace.js'
import type { Snap } from './snap.js'
import { type BlockPtr, type Inode, decodeBlockPtr, encodeBlockPtr } from './format.js'
import type { ItemEdit, Items } from './items.js'

/** A regular file: its number and its inode as the operation sees it (changes update it). */
export interface FileRef {
  ino: number
  inode: Inode
}

/** Copies up to `len` bytes at `pos` into buf[off…]; returns how many (0 at or past the end). */
export function readAt(t: Items, f: FileRef, io: { buf: Buffer; off: number; len: number; pos: number }): number {
  const { ino, inode } = f
  const { buf, off, len, pos } = io
  const bs = t.blockSize
  if (pos >= inode.size || len === 0) return 0
  const n = Math.min(len, inode.size - pos)
  const end = pos + n
  if (inode.data !== undefined) {
    const d = inode.data
    const copied = pos < d.length ? d.copy(buf, off, pos, Math.min(end, d.length)) : 0
    buf.fill(0, off + copied, off + n)
    return n
  }
  // Zeros go only where no block covers the range (holes, short last blocks).
  let cursor = pos
  t.scan(blockKey(ino, Math.floor(pos / bs)), blockKey(ino, Math.floor((end - 1) / bs) + 1), (k, v) => {
    const start = readU64(k, 9) * bs
    const p = decodeBlockPtr(v)
    const from = Math.max(pos, start)
    const to = Math.min(end, start + p.len)
    if (to <= from) return
    if (from > cursor) buf.fill(0, off + cursor - pos, off + from - pos)
    t.block(p).copy(buf, off + from - pos, from - start, to - start)
    cursor = to
  })
  if (cursor < end) buf.fill(0, off + cursor - pos, off + n)
  return n
}

export function readAll(t: Items, f: FileRef): Buffer {
  const buf = Buffer.allocUnsafe(f.inode.size)
  readAt(t, f, { buf, off: 0, len: buf.length, pos: 0 })
  return buf
}

/** Stores `data` as the block at `idx`, in place if this generation owns the block there. */
function storeBlock(e: ItemEdit, ino: number, idx: number, cur: BlockPtr | undefined, data: Buffer): void {
  const p = cur !== undefined && cur.g === e.gen ? e.rewriteBlock(cur, data) : e.newBlock(data)
  if (cur === undefined || p.g !== cur.g || p.s !== cur.s || p.len !== cur.len) e.put(blockKey(ino, idx), encodeBlockPtr(p))
}

function blockAt(t: Items, ino: number, idx: number): BlockPtr | undefined {
  const v = t.get(blockKey(ino, idx))
  return v === undefined ? undefined : decodeBlockPtr(v)
}

/** Moves a small file's bytes out of its inode into block 0. */
function spill(e: ItemEdit, ino: number, inode: Inode): void {
  const d = inode.data
  delete inode.data
  if (d !== undefined && d.length > 0) storeBlock(e, ino, 0, undefined, Buffer.from(d))
}

/** Writes `data` at `pos`, growing the file if needed; updates the inode (size, mtime). */
export function writeAt(e: ItemEdit, f: FileRef, w: { data: Buffer; pos: number; now: number }): void {
  const { ino, inode } = f
  const { data: src, pos } = w
  const end = pos + src.length
  const size = Math.max(inode.size, end)
  inode.mtimeNs = msToNs(w.now)
  if (src.length > 0 && inode.data !== undefined && size <= e.inlineMax) {
    const d = Buffer.alloc(Math.max(inode.data.length, end))
    inode.data.copy(d)
    src.copy(d, pos)
    inode.data = d
  } else if (src.length > 0) {
    if (inode.data !== undefined) spill(e, ino, inode)
    writeBlocks(e, ino, inode.size, src, pos)
  }
  inode.size = size
  putInode(e, ino, inode)
}

function writeBlocks(e: ItemEdit, ino: number, oldSize: number, src: Buffer, pos: number): void {
  const bs = e.blockSize
  const end = pos + src.length
  const size = Math.max(oldSize, end)
  for (let idx = Math.floor(pos / bs); idx * bs < end; idx++) {
    const start = idx * bs
    const from = Math.max(pos, start)
    const to = Math.min(end, start + bs)
    const length = Math.min(bs, size - start)
    const cur = blockAt(e, ino, idx)
    let data: Buffer
    if (from === start && to === start + length) {
      data = src.subarray(from - pos, to - pos)
    } else {
      data = Buffer.alloc(length)
      if (cur !== undefined) e.block(cur).copy(data, 0, 0, Math.min(cur.len, length))
      src.copy(data, from - start, from - pos, to - pos)
    }
    storeBlock(e, ino, idx, cur, data)
  }
}

/** Sets the file's length: cut blocks are freed if owned, and a cut block is trimmed. */
export function truncateTo(e: ItemEdit, f: FileRef, t: { len: number; now: number }): void {
  const { ino, inode } = f
  const { len } = t
  const bs = e.blockSize
  inode.mtimeNs = msToNs(t.now)
  if (inode.data !== undefined) {
    if (len <= e.inlineMax) inode.data = Buffer.from(inode.data.subarray(0, Math.min(len, inode.data.length)))
    else spill(e, ino, inode)
  } else if (len <= e.inlineMax) {
    // Back inside the inode: the file is small again.
    const keep = Buffer.alloc(Math.min(len, inode.size))
    readAt(e, f, { buf: keep, off: 0, len: keep.length, pos: 0 })
    const [lo, hi] = blocksFrom(ino, 0)
    e.delRange(lo, hi, freeing(e))
    inode.data = keep
  } else if (len < inode.size) {
    const whole = Math.ceil(len / bs)
    const [lo, hi] = blocksFrom(ino, whole)
    e.delRange(lo, hi, freeing(e))
    const tail = len - (whole - 1) * bs
    const cur = len % bs === 0 ? undefined : blockAt(e, ino, whole - 1)
    if (cur !== undefined && cur.len > tail) storeBlock(e, ino, whole - 1, cur, Buffer.from(e.block(cur).subarray(0, tail)))
  }
  inode.size = len
  putInode(e, ino, inode)
}

/** The most one batch of a large write carries: 64 blocks, and no more than 8 MiB. */
const MAX_STEP_BLOCKS = 64
const MAX_STEP_BYTES = 8 << 20

/** How many bytes of a large write one batch carries. */
export function stepBytes(blockSize: number): number {
  return blockSize * Math.max(1, Math.min(MAX_STEP_BLOCKS, Math.floor(MAX_STEP_BYTES / blockSize)))
}

/** Writes `src` to file `ino` at `pos` (at its end when appending), in batches of whole blocks. */
export function writeData(
  snap: Snap,
  file: { ino: number; path: string },
  src: Buffer,
  at: { pos: number; append: boolean },
): Promise<void> {
  const { ino, path } = file
  const step = stepBytes(snap.format.blockSize)
  let start = -1
  let cur = 0
  return snap.writeWhile(
    (e: Edit) => {
      const inode = handleInode(e, ino, 'write', path)
      if (inode.type !== 'file') throw posixError('EINVAL', 'write', path)
      if (start < 0) cur = start = at.append ? inode.size : at.pos
      const end = start + src.length
      const next = Math.min(end, (Math.floor(cur / step) + 1) * step)
      writeAt(e, { ino, inode }, { data: src.subarray(cur - start, next - start), pos: cur, now: Date.now() })
      cur = next
      return cur < end
    },
    { large: src.length >= 16 * snap.format.blockSize },
  )
}
