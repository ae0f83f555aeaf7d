/**
 * An open file of a row snapshot. It holds the inode number, not a path, so
 * renames do not disturb it and writes through one handle show through
 * every other. Flags follow open(2): 'r' reads, 'w', 'wx' and 'a' only
 * write, 'r+' does both, and 'a' always writes at the end.
 */
import { posixError } from '../../core/errors.js'
import { CheckedHandle } from '../../fs/checked.js'
import type { FileStat, OpenFlags } from '../../core/snapshotter.js'
import type { Edit } from './edit.js'
import { readAt, truncateTo, writeAt } from './filedata.js'
import type { Inode, Items } from './items.js'
import { getInode } from './namespace.js'
import type { Snap } from './snap.js'

/** The most one batch of a large write carries: 64 blocks, and no more than 8 MiB. */
const MAX_STEP_BLOCKS = 64
const MAX_STEP_BYTES = 8 << 20

export function statOf(ino: number, i: Inode): FileStat {
  const st: FileStat = { type: i.type, mode: i.mode, uid: i.uid, gid: i.gid, size: i.size, nlink: i.nlink, ino, mtimeMs: i.mtimeMs }
  if (i.type === 'char' || i.type === 'block') st.rdev = i.rdev
  return st
}

/** The inode behind an open handle; gone only if every link was removed meanwhile. */
function inodeOf(t: Items, ino: number, syscall: string, path: string): Inode {
  const i = getInode(t, ino)
  if (i === undefined) throw posixError('ENOENT', syscall, path)
  return i
}

/** How many bytes of a large write one batch carries. */
export function stepBytes(blockSize: number): number {
  return blockSize * Math.max(1, Math.min(MAX_STEP_BLOCKS, Math.floor(MAX_STEP_BYTES / blockSize)))
}

/** Writes `src` at `pos` (at the end when appending), in batches of whole blocks. */
export function writeData(snap: Snap, ino: number, path: string, src: Buffer, pos: number, append: boolean): Promise<void> {
  const step = stepBytes(snap.format.blockSize)
  let start = -1
  let cur = 0
  return snap.writeWhile((e: Edit) => {
    const inode = inodeOf(e, ino, 'write', path)
    if (inode.type !== 'file') throw posixError('EINVAL', 'write', path)
    if (start < 0) cur = start = append ? inode.size : pos
    const end = start + src.length
    const next = Math.min(end, (Math.floor(cur / step) + 1) * step)
    writeAt(e, { ino, inode }, { data: src.subarray(cur - start, next - start), pos: cur, now: Date.now() })
    cur = next
    return cur < end
  })
}

export class RowFileHandle extends CheckedHandle {
  readonly #snap: Snap
  readonly #ino: number

  constructor(snap: Snap, ino: number, path: string, flags: OpenFlags) {
    super(path, flags)
    this.#snap = snap
    this.#ino = ino
  }

  protected async _read(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    return this.#snap.read((t) => {
      const inode = inodeOf(t, this.#ino, 'read', this.path)
      if (inode.type === 'dir') throw posixError('EISDIR', 'read', this.path)
      if (inode.type !== 'file') return 0
      return readAt(t, { ino: this.#ino, inode }, { buf, off: offset, len: length, pos: position })
    })
  }

  protected async _write(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    if (length === 0) return 0
    await writeData(this.#snap, this.#ino, this.path, buf.subarray(offset, offset + length), position, this.flags === 'a')
    return length
  }

  protected async _truncate(len: number): Promise<void> {
    await this.#snap.write((e) => {
      const inode = inodeOf(e, this.#ino, 'ftruncate', this.path)
      if (inode.type !== 'file') throw posixError('EINVAL', 'ftruncate', this.path)
      truncateTo(e, { ino: this.#ino, inode }, { len, now: Date.now() })
    })
  }

  protected async _stat(): Promise<FileStat> {
    return this.#snap.read((t) => statOf(this.#ino, inodeOf(t, this.#ino, 'fstat', this.path)))
  }

  protected async _close(): Promise<void> {}
}
