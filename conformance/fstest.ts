/**
 * File-tree builders in the manner of containerd's fstest: each applier
 * changes a SnapshotFs, and the same appliers applied to a plain directory
 * give the reference a snapshot must equal.
 */
import type { SnapshotFs } from '../core/snapshotter.js'
import { unlessMissing } from '../core/errors.js'

export type Applier = (fs: SnapshotFs) => Promise<void>

/** Writes (truncating, so an existing inode is kept) then sets the exact mode. */
export function createFile(path: string, content: string | Buffer, mode: number): Applier {
  return async (fs) => {
    await fs.writeFile(path, content, { mode })
    await fs.chmod(path, mode)
  }
}

export function createDir(path: string, mode: number): Applier {
  return async (fs) => {
    await fs.mkdir(path, { recursive: true, mode })
    await fs.chmod(path, mode)
  }
}

/** Removes a path and everything under it; a missing path is fine. */
export function removeAll(path: string): Applier {
  return async (fs) => {
    await unlessMissing(fs.rm(path, { recursive: true }))
  }
}

export function rename(from: string, to: string): Applier {
  return (fs) => fs.rename(from, to)
}

export function chown(path: string, uid: number, gid: number): Applier {
  return (fs) => fs.chown(path, uid, gid)
}

export function chmod(path: string, mode: number): Applier {
  return (fs) => fs.chmod(path, mode)
}

export function link(existing: string, path: string): Applier {
  return (fs) => fs.link(existing, path)
}

export function symlink(target: string, path: string): Applier {
  return (fs) => fs.symlink(target, path)
}

export function chtimes(path: string, atimeMs: number, mtimeMs: number): Applier {
  return (fs) => fs.utimes(path, atimeMs, mtimeMs)
}

export function apply(...appliers: Applier[]): Applier {
  return async (fs) => {
    for (const a of appliers) await a(fs)
  }
}
