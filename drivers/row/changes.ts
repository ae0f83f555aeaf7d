/**
 * What a snapshot changed against its parent, in O(changes): the two trees
 * are walked side by side and every subtree they share (same node id) is
 * skipped, as btrfs send and zfs send -i do. The changed items name the
 * inodes and directories involved; back references lead from them up to the
 * root, which gives the directories to descend. The walk then compares the
 * two namespaces along those directories only.
 */
import type { Change } from '../../core/snapshotter.js'
import { ItemType, direntName, itemIno, itemType } from './keys.js'
import { ROOT_INO, entries, links, lookupEntry } from './namespace.js'
import { kidAt, kidCount, type Ptr } from './node.js'
import type { NodeSource } from './nodestore.js'
import type { NodeReader } from './tree.js'
import { type Inode, decodeInode } from './format.js'
import { type Items, Reader } from './items.js'

/** What the side-by-side walk has still to look at: a node not yet opened, or one item. */
type Pending = { kind: 'node'; level: number; ptr: Ptr } | { kind: 'item'; key: Buffer; val: Buffer }

function levelOf(p: Pending | undefined): number {
  return p === undefined ? -2 : p.kind === 'node' ? p.level : -1
}

/** Replaces the node on top of the stack by its children (or items), first on top. */
function expand(r: NodeReader, stack: Pending[]): void {
  const top = stack.pop() as Pending & { kind: 'node' }
  const n = r.node(top.ptr)
  if (n.level === 0) {
    for (let i = n.keys.length - 1; i >= 0; i--) stack.push({ kind: 'item', key: n.keys[i], val: n.vals[i] })
  } else {
    for (let i = kidCount(n) - 1; i >= 0; i--) stack.push({ kind: 'node', level: n.level - 1, ptr: kidAt(n, i) })
  }
}

/** Calls `emit` for every item that differs between two trees (absent on one side: undefined). */
export function diffItems(r: NodeReader, a: Ptr | undefined, b: Ptr, emit: (key: Buffer, before?: Buffer, after?: Buffer) => void): void {
  const A: Pending[] = a === undefined ? [] : [{ kind: 'node', level: r.node(a).level, ptr: a }]
  const B: Pending[] = [{ kind: 'node', level: r.node(b).level, ptr: b }]
  while (A.length > 0 || B.length > 0) {
    const x = A.at(-1)
    const y = B.at(-1)
    if (x?.kind === 'node' && y?.kind === 'node' && x.ptr.g === y.ptr.g && x.ptr.s === y.ptr.s) {
      // A shared subtree: nothing in it differs.
      A.pop()
      B.pop()
      continue
    }
    const lx = levelOf(x)
    const ly = levelOf(y)
    if (lx >= 0 && lx >= ly) {
      expand(r, A)
    } else if (ly >= 0) {
      expand(r, B)
    } else {
      const ix = x?.kind === 'item' ? x : undefined
      const iy = y?.kind === 'item' ? y : undefined
      const c = ix && iy ? Buffer.compare(ix.key, iy.key) : ix ? -1 : 1
      if (c < 0 && ix) {
        emit(ix.key, ix.val, undefined)
        A.pop()
      } else if (c > 0 && iy) {
        emit(iy.key, undefined, iy.val)
        B.pop()
      } else if (ix && iy) {
        if (!ix.val.equals(iy.val)) emit(ix.key, ix.val, iy.val)
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
    a.mtimeNs === b.mtimeNs &&
    a.rdev === b.rdev &&
    a.target === b.target &&
    (a.data === undefined ? b.data === undefined : b.data !== undefined && a.data.equals(b.data))
  )
}

/** What differs between two trees, by item: names per directory, and inodes whose own content changed. */
interface Differences {
  /** Directory → names whose entries differ. */
  names: Map<number, Set<string>>
  /** Inodes whose attributes or data differ. */
  inodes: Set<number>
}

function changedItems(src: NodeSource, before: Ptr | undefined, after: Ptr): Differences {
  const d: Differences = { names: new Map(), inodes: new Set() }
  diffItems(src, before, after, (k, o, n) => {
    const type = itemType(k)
    if (type === ItemType.Dirent) namesOf(d.names, itemIno(k)).add(direntName(k))
    else if (type === ItemType.Block || type === ItemType.Xattr) d.inodes.add(itemIno(k))
    else if (type === ItemType.Inode && !(o && n && sameContent(decodeInode(o), decodeInode(n)))) d.inodes.add(itemIno(k))
  })
  return d
}

/** Directory → names to visit in it: the links from every changed inode up to the root. */
function dirsToVisit(newT: Items, d: Differences): Map<number, Set<string>> {
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
  for (const ino of [...d.names.keys(), ...d.inodes]) climb(ino)
  return want
}

/** Walks the namespace along `want` and turns each differing name into a change, in path order. */
function walkChanges(trees: { oldT: Items | undefined; newT: Items }, d: Differences, want: Map<number, Set<string>>): Change[] {
  const { oldT, newT } = trees
  const out: Change[] = []
  const addAll = (path: string, dir: number): void => {
    for (const [name, ent] of sorted(entries(newT, dir))) {
      out.push({ path: `${path}/${name}`, kind: 'add' })
      if (ent.type === 'dir') addAll(`${path}/${name}`, ent.ino)
    }
  }
  const walk = (path: string, dir: number): void => {
    const names = new Set([...(want.get(dir) ?? []), ...(d.names.get(dir) ?? [])])
    for (const name of [...names].sort()) {
      const p = `${path}/${name}`
      const o = oldT ? lookupEntry(oldT, dir, name) : undefined
      const n = lookupEntry(newT, dir, name)
      if (n === undefined) {
        if (o !== undefined) out.push({ path: p, kind: 'delete' })
      } else if (o === undefined || o.ino !== n.ino) {
        if (o === undefined) out.push({ path: p, kind: 'add' })
        else if (o.type === 'dir' && n.type === 'dir') out.push({ path: p, kind: 'modify', opaque: true })
        else out.push({ path: p, kind: 'modify' })
        if (n.type === 'dir') addAll(p, n.ino)
      } else {
        const inside = n.type === 'dir' && (want.has(n.ino) || d.names.has(n.ino))
        if (inside || d.inodes.has(n.ino)) out.push({ path: p, kind: 'modify' })
        if (inside) walk(p, n.ino)
      }
    }
  }
  walk('', ROOT_INO)
  return out
}

/** The changes of the tree at `after` against the tree at `before` (none: everything is added). */
export function changesBetween(src: NodeSource, before: Ptr | undefined, after: Ptr): Change[] {
  // Only names are read here, never file data: the block size does not matter.
  const oldT = before === undefined ? undefined : new Reader(src, before, 0)
  const newT = new Reader(src, after, 0)
  const d = changedItems(src, before, after)
  return walkChanges({ oldT, newT }, d, dirsToVisit(newT, d))
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
