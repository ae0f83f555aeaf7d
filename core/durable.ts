/**
 * Making files durable: what survives a power cut, not only a crash of the
 * process (the page cache survives the latter, never the former).
 *
 * The drivers that keep files in the store's file system (native, overlay)
 * flush a snapshot's tree before core writes the record that points to it,
 * so a record never lands over files that are still only in memory. How:
 *
 * - `syncfs` (the default): one `syncfs(2)` of the store's file system, by
 *   `sync -f` from coreutils (Node has no binding). One call whatever the
 *   tree's size; it also writes back whatever else is dirty on that file
 *   system (another container's writes), which is what it costs.
 * - `fsync`: an fsync of every file and directory of the tree, then of the
 *   directories that hold the renamed entries; it touches only the tree, at
 *   one round trip per inode.
 * - `off`: no flushes at all, and LevelDB batches unsynced. Unsafe: for the
 *   bench (the cost of the promise) and the crash disk (a run must fail
 *   without the flushes). Never for real stores.
 *
 * The mode comes from STRATA_FLUSH (`syncfs` | `fsync` | `off`), read at each
 * call so a bench can compare modes in one process.
 */
import { execFile } from 'node:child_process'
import { constants } from 'node:fs'
import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

export type FlushMode = 'syncfs' | 'fsync' | 'off'

const MODES: readonly FlushMode[] = ['syncfs', 'fsync', 'off']
const run = promisify(execFile)

export function flushMode(): FlushMode {
  const env = process.env.STRATA_FLUSH
  if (env === undefined || env === '') return 'syncfs'
  if (!(MODES as readonly string[]).includes(env)) {
    throw new Error(`STRATA_FLUSH=${env} is not one of ${MODES.join(', ')}`)
  }
  return env as FlushMode
}

/** Whether LevelDB batches that must be durable are written with sync (false only when flushes are off). */
export function syncBatches(): boolean {
  return flushMode() !== 'off'
}

/** fsync(2) of one file or directory (a directory is opened read-only, as fsync needs). */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** syncfs(2) of the file system that holds `path`. */
export async function syncFs(path: string): Promise<void> {
  await run('sync', ['-f', path])
}

/** fsync of every file and directory under `dir` (symlinks and devices live in their directory's blocks). */
export async function fsyncTree(dir: string): Promise<void> {
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, ent.name)
    if (ent.isDirectory()) await fsyncTree(path)
    else if (ent.isFile()) await fsyncPath(path)
  }
  await fsyncPath(dir)
}

export interface DurableWhat {
  /** Trees whose every file and directory must survive. */
  trees?: string[]
  /** Directories whose entries (a rename, a new link) must survive. */
  dirs?: string[]
}

/**
 * Makes `what` durable by the current mode: one syncfs of the file system of
 * the first path, or an fsync of each tree's inodes and of each directory.
 * Every path must be on the same file system (the store's).
 */
export async function makeDurable(what: DurableWhat, mode: FlushMode = flushMode()): Promise<void> {
  const trees = what.trees ?? []
  const dirs = what.dirs ?? []
  if (mode === 'off') return
  if (mode === 'syncfs') {
    const any = trees[0] ?? dirs[0]
    if (any !== undefined) await syncFs(any)
    return
  }
  for (const tree of trees) await fsyncTree(tree)
  for (const dir of dirs) await fsyncPath(dir)
}
