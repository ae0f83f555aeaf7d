/**
 * What a snapshot changed against its parent, in O(changes): the two trees
 * are walked side by side and every subtree they share (same node id) is
 * skipped, as btrfs send and zfs send -i do. The changed items name the
 * inodes and directories involved; back references lead from them up to the
 * root, which gives the directories to descend. The walk then compares the
 * two namespaces along those directories only.
 */
import type { Change } from '../../core/snapshotter.js'
import { Reader } from './edit.js'
import { type Inode, decodeInode } from './items.js'
import { ItemType, direntName, itemIno, itemType } from './keys.js'
import { ROOT_INO, entries, links, lookup } from './namespace.js'
import { kidAt, kidCount, type Ptr } from './node.js'
import type { NodeSource } from './nodestore.js'
import type { NodeReader } from './tree.js'

type Pending = { level: number; g: number; s: number } | { level: -1; key: Buffer; val: Buffer }

function expand(r: NodeReader, stack: Pending[]): void {
  const top = stack.pop() as { level: number; g: number; s: number }
  const n = r.node(top)
  if (n.level === 0) {
    for (let i = n.keys.length - 1; i >= 0; i--) stack.push({ level: -1, key: n.keys[i], val: n.vals[i] })
  } else {
    for (let i = kidCount(n) - 1; i >= 0; i--) stack.push({ level: n.level - 1, ...kidAt(n, i) })
  }
}

/** Calls `emit` for every item that differs between two trees (absent on one side: undefined). */
export function diffTrees(r: NodeReader, a: Ptr | undefined, b: Ptr, emit: (key: Buffer, before?: Buffer, after?: Buffer) => void): void {
  const A: Pending[] = a === undefined ? [] : [{ level: r.node(a).level, g: a.g, s: a.s }]
  const B: Pending[] = [{ level: r.node(b).level, g: b.g, s: b.s }]
  while (A.length > 0 || B.length > 0) {
    const x = A.at(-1)
    const y = B.at(-1)
    if (x && y && x.level >= 0 && y.level >= 0 && 'g' in x && 'g' in y && x.g === y.g && x.s === y.s) {
      A.pop()
      B.pop()
      continue
    }
    const lx = x?.level ?? -2
    const ly = y?.level ?? -2
    if (lx >= 0 && lx >= ly) {
      expand(r, A)
    } else if (ly >= 0) {
      expand(r, B)
    } else {
      const ix = x as { key: Buffer; val: Buffer } | undefined
      const iy = y as { key: Buffer; val: Buffer } | undefined
      const c = ix && iy ? Buffer.compare(ix.key, iy.key) : ix ? -1 : 1
      if (c < 0) {
        emit(ix!.key, ix!.val, undefined)
        A.pop()
      } else if (c > 0) {
        emit(iy!.key, undefined, iy!.val)
        B.pop()
      } else {
        if (!ix!.val.equals(iy!.val)) emit(ix!.key, ix!.val, iy!.val)
        A.pop()
        B.pop()
      }
    }
  }
}

/** What a layer records of an inode: link counts and bookkeeping are not changes. */
function sameContent(a: Inode, b: Inode): boolean {
  return (
    a.type === b.type &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.size === b.size &&
    a.mtimeMs === b.mtimeMs &&
    a.rdev === b.rdev &&
    a.target === b.target &&
    (a.data === undefined ? b.data === undefined : b.data !== undefined && a.data.equals(b.data))
  )
}

/** The changes of the tree at `after` against the tree at `before` (none: everything is added). */
export function listChanges(src: NodeSource, before: Ptr | undefined, after: Ptr): Change[] {
  // Only names are read here, never file data: the block size does not matter.
  const oldT = before === undefined ? undefined : new Reader(src, before, 0)
  const newT = new Reader(src, after, 0)
  // Directory → names whose entries differ, and inodes whose own content differs.
  const changed = new Map<number, Set<string>>()
  const touched = new Set<number>()
  diffTrees(src, before, after, (k, o, n) => {
    const type = itemType(k)
    if (type === ItemType.Dirent) namesOf(changed, itemIno(k)).add(direntName(k))
    else if (type === ItemType.Block) touched.add(itemIno(k))
    else if (type === ItemType.Inode && !(o && n && sameContent(decodeInode(o), decodeInode(n)))) touched.add(itemIno(k))
  })

  // Directory → names to visit in it: the links from every changed inode up to the root.
  const want = new Map<number, Set<string>>()
  const climbed = new Set<number>()
  const climb = (ino: number): void => {
    if (ino === ROOT_INO || climbed.has(ino)) return
    climbed.add(ino)
    for (const { parent, name } of links(newT, ino)) {
      namesOf(want, parent).add(name)
      climb(parent)
    }
  }
  for (const ino of [...changed.keys(), ...touched]) climb(ino)

  const out: Change[] = []
  const addAll = (path: string, dir: number): void => {
    for (const [name, ent] of sorted(entries(newT, dir))) {
      out.push({ path: `${path}/${name}`, kind: 'add' })
      if (ent.type === 'dir') addAll(`${path}/${name}`, ent.ino)
    }
  }
  const walk = (path: string, dir: number): void => {
    const names = new Set([...(want.get(dir) ?? []), ...(changed.get(dir) ?? [])])
    for (const name of [...names].sort()) {
      const p = `${path}/${name}`
      const o = oldT ? lookup(oldT, dir, name) : undefined
      const n = lookup(newT, dir, name)
      if (n === undefined) {
        if (o !== undefined) out.push({ path: p, kind: 'delete' })
      } else if (o === undefined || o.ino !== n.ino) {
        if (o === undefined) out.push({ path: p, kind: 'add' })
        else if (o.type === 'dir' && n.type === 'dir') out.push({ path: p, kind: 'modify', opaque: true })
        else out.push({ path: p, kind: 'modify' })
        if (n.type === 'dir') addAll(p, n.ino)
      } else {
        const inside = n.type === 'dir' && (want.has(n.ino) || changed.has(n.ino))
        if (inside || touched.has(n.ino)) out.push({ path: p, kind: 'modify' })
        if (inside) walk(p, n.ino)
      }
    }
  }
  walk('', ROOT_INO)
  return out
}

function namesOf(map: Map<number, Set<string>>, dir: number): Set<string> {
  let names = map.get(dir)
  if (!names) {
    names = new Set()
    map.set(dir, names)
  }
  return names
}

function sorted<T>(list: Array<[string, T]>): Array<[string, T]> {
  return list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}
