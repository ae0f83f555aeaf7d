/**
 * An open file of a row snapshot. It holds the inode number, not a path, so
 * renames do not disturb it and writes through one handle show through
 * every other. Flags follow open(2): 'r' reads, 'w', 'wx' and 'a' only
 * write, 'r+' does both, and 'a' always writes at the end.
 */
import { posixError } from '../../core/errors.js'
import { CheckedHandle } from '../../fs/checked.js'
import type { FileStat, OpenFlags } from '../../core/snapshotter.js'
import { readAt, truncateTo, writeData } from './filedata.js'
import { handleInode, statOf } from './namespace.js'
import type { Snap } from './snap.js'

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
      const inode = handleInode(t, this.#ino, 'read', this.path)
      if (inode.type === 'dir') throw posixError('EISDIR', 'read', this.path)
      if (inode.type !== 'file') return 0
      return readAt(t, { ino: this.#ino, inode }, { buf, off: offset, len: length, pos: position })
    })
  }

  protected async _write(buf: Buffer, offset: number, length: number, position: number): Promise<number> {
    if (length === 0) return 0
    await writeData(this.#snap, { ino: this.#ino, path: this.path }, buf.subarray(offset, offset + length), {
      pos: position,
      append: this.flags === 'a',
    })
    return length
  }

  protected async _truncate(len: number): Promise<void> {
    await this.#snap.write((e) => {
      const inode = handleInode(e, this.#ino, 'ftruncate', this.path)
      if (inode.type !== 'file') throw posixError('EINVAL', 'ftruncate', this.path)
      truncateTo(e, { ino: this.#ino, inode }, { len, now: Date.now() })
    })
  }

  protected async _stat(): Promise<FileStat> {
    return this.#snap.read((t) => statOf(this.#ino, handleInode(t, this.#ino, 'fstat', this.path)))
  }

  /** fsync: returns once everything written so far is in a synced batch. */
  async sync(): Promise<void> {
    await this.#snap.sync()
  }

  protected async _close(): Promise<void> {}
}
