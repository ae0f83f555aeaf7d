/**
 * Tree comparison as containerd's continuity does it: type, permission bits
 * (setuid and friends included), owner, size and content digest of files,
 * hard-link groups, symlink targets and device numbers. Times and xattrs are
 * not compared, and neither is the root directory itself.
 */
import { createHash } from 'node:crypto'
import type { FileStat, SnapshotFs } from '../core/snapshotter.js'

export interface Entry {
  type: FileStat['type']
  mode: number
  uid: number
  gid: number
  size?: number
  digest?: string
  target?: string
  rdev?: number | undefined
  /** The other paths of its hard-link group, for files with nlink > 1. */
  links?: string
}

async function digest(fs: SnapshotFs, path: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(path))
    .digest('hex')
}

/** Every path under the root (not the root itself) with what is compared of it. */
export async function manifest(fs: SnapshotFs): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>()
  const inodes = new Map<number, string[]>()
  const walk = async (dir: string): Promise<void> => {
    for (const name of await fs.readdir(dir)) {
      const path = dir === '/' ? `/${name}` : `${dir}/${name}`
      const st = await fs.lstat(path)
      const e: Entry = { type: st.type, mode: st.mode, uid: st.uid, gid: st.gid }
      if (st.type === 'file') {
        e.size = st.size
        e.digest = await digest(fs, path)
      } else if (st.type === 'symlink') {
        e.target = await fs.readlink(path)
      } else if (st.type === 'char' || st.type === 'block') {
        e.rdev = st.rdev
      }
      if (st.type !== 'dir' && st.nlink > 1) {
        const group = inodes.get(st.ino) ?? []
        group.push(path)
        inodes.set(st.ino, group)
      }
      out.set(path, e)
      if (st.type === 'dir') await walk(path)
    }
  }
  await walk('/')
  for (const group of inodes.values()) {
    if (group.length < 2) continue
    for (const p of group)
      out.get(p)!.links = group
        .filter((q) => q !== p)
        .sort()
        .join(',')
  }
  return out
}

function describe(e: Entry | undefined): string {
  if (!e) return 'missing'
  const parts = [e.type, `mode=${e.mode.toString(8)}`, `uid=${e.uid}`, `gid=${e.gid}`]
  if (e.size !== undefined) parts.push(`size=${e.size}`, `sha256=${e.digest?.slice(0, 12)}`)
  if (e.target !== undefined) parts.push(`target=${e.target}`)
  if (e.rdev !== undefined) parts.push(`rdev=${e.rdev}`)
  if (e.links) parts.push(`links=${e.links}`)
  return parts.join(' ')
}

/** Differences between two manifests, one line each ('' when equal). */
export function diffManifests(actual: Map<string, Entry>, expected: Map<string, Entry>): string[] {
  const diffs: string[] = []
  for (const path of new Set([...actual.keys(), ...expected.keys()])) {
    const a = describe(actual.get(path))
    const b = describe(expected.get(path))
    if (a !== b) diffs.push(`${path}: got ${a}; want ${b}`)
  }
  return diffs.sort()
}

/** Throws naming every difference when `actual` does not equal `expected`. */
export async function assertSameTree(actual: SnapshotFs, expected: SnapshotFs, what: string): Promise<void> {
  const diffs = diffManifests(await manifest(actual), await manifest(expected))
  if (diffs.length > 0) {
    const shown = diffs.slice(0, 20).join('\n  ')
    throw new Error(`${what} differs from the reference in ${diffs.length} place(s):\n  ${shown}`)
  }
}
