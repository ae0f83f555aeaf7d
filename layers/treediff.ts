/**
 * The generic change listing: compares a snapshot's tree with its parent's,
 * through two SnapshotFs, and yields what an OCI layer must record (the
 * ChangeLister contract in core/snapshotter.ts). It costs a walk of both
 * trees; drivers that know their changes offer `changes()` instead.
 *
 * When two entries differ (Docker's statDifferent, with containerd's care for
 * truncated times): type, permission bits, owner, device number or symlink
 * target; for files also size or mtime. Directory size and mtime are ignored
 * (moby #9874). Extended attributes are compared for every type: setcap on
 * an unchanged file is a change. Size and mtime alone cannot prove a file unchanged when its
 * mtime has no sub-second part (tar extraction truncates times): then the
 * contents are compared (containerd's LayerFileupdate case, docker #21555).
 */
import { unlessMissing } from '../core/errors.js'
import type { Change, FileStat, SnapshotFs } from '../core/snapshotter.js'
import { joinPath } from './entry.js'

const CHUNK = 1 << 16

export async function* diffTrees(lower: SnapshotFs | undefined, upper: SnapshotFs): AsyncGenerator<Change> {
  yield* await diffDir(lower, upper, '/', true)
}

/** The changes under `dir` (both trees have it as a directory when `both`). */
async function diffDir(lower: SnapshotFs | undefined, upper: SnapshotFs, dir: string, both: boolean): Promise<Change[]> {
  const out: Change[] = []
  const upperNames = await upper.readdir(dir)
  const lowerNames = both && lower ? await lower.readdir(dir) : []
  const inUpper = new Set(upperNames)
  const inLower = new Set(lowerNames)
  for (const name of mergeSorted(lowerNames, upperNames)) {
    const path = joinPath(dir, name)
    if (!inUpper.has(name)) {
      out.push({ path, kind: 'delete' })
      continue
    }
    const ust = await upper.lstat(path)
    const lst = lower && inLower.has(name) ? await unlessMissing(lower.lstat(path)) : undefined
    if (!lst) {
      out.push({ path, kind: 'add' })
      if (ust.type === 'dir') out.push(...(await diffDir(undefined, upper, path, false)))
      continue
    }
    const sameDir = lst.type === 'dir' && ust.type === 'dir'
    const children = ust.type === 'dir' ? await diffDir(lower, upper, path, sameDir) : []
    const changed =
      (!sameDir ? await differs(lower!, upper, path, lst, ust) : metaDiffers(lst, ust)) || (await xattrsDiffer(lower!, upper, path))
    if (changed || children.length > 0) out.push({ path, kind: 'modify' })
    out.push(...children.map((c) => (!sameDir && c.kind !== 'add' ? { ...c, kind: 'add' as const } : c)))
  }
  return out
}

function mergeSorted(a: string[], b: string[]): string[] {
  return [...new Set([...a, ...b])].sort()
}

function metaDiffers(a: FileStat, b: FileStat): boolean {
  return a.type !== b.type || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || (a.rdev ?? 0) !== (b.rdev ?? 0)
}

/** Whether the two paths carry different extended attributes (names or values). */
async function xattrsDiffer(lower: SnapshotFs, upper: SnapshotFs, path: string): Promise<boolean> {
  const [a, b] = [await lower.listxattr(path), await upper.listxattr(path)]
  if (a.length !== b.length || a.some((n, i) => n !== b[i])) return true
  for (const name of a) if (!(await lower.getxattr(path, name)).equals(await upper.getxattr(path, name))) return true
  return false
}

async function differs(lower: SnapshotFs, upper: SnapshotFs, path: string, a: FileStat, b: FileStat): Promise<boolean> {
  if (metaDiffers(a, b)) return true
  if (a.type === 'symlink') return (await lower.readlink(path)) !== (await upper.readlink(path))
  if (a.type !== 'file') return false
  if (a.size !== b.size || a.mtimeNs !== b.mtimeNs) return true
  if (b.mtimeNs % 1_000_000_000n !== 0n) return false
  return !(await sameContent(lower, upper, path, a.size))
}

async function sameContent(lower: SnapshotFs, upper: SnapshotFs, path: string, size: number): Promise<boolean> {
  if (size === 0) return true
  const [fa, fb] = [await lower.open(path, 'r'), await upper.open(path, 'r')]
  try {
    const ba = Buffer.allocUnsafe(CHUNK)
    const bb = Buffer.allocUnsafe(CHUNK)
    for (let pos = 0; pos < size; pos += CHUNK) {
      const n = Math.min(CHUNK, size - pos)
      const [ra, rb] = [await fa.read(ba, 0, n, pos), await fb.read(bb, 0, n, pos)]
      if (ra !== rb || !ba.subarray(0, ra).equals(bb.subarray(0, rb))) return false
      if (ra < n) return true
    }
    return true
  } finally {
    await fa.close()
    await fb.close()
  }
}

/** Path order, component by component: a directory right before its contents. */
export function comparePaths(a: string, b: string): number {
  const x = a.replaceAll('/', '\0')
  const y = b.replaceAll('/', '\0')
  return x < y ? -1 : x > y ? 1 : 0
}
