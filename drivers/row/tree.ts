/**
 * The copy-on-write B+tree every snapshot's items live in (Rodeh's shadowing,
 * as btrfs and LMDB use it). A change copies the path from the root to the
 * leaf it touches, unless the nodes on it were born in the writer's own
 * generation, which it may change in place. Nodes split when they outgrow
 * `maxBytes` and merge with a sibling when they shrink below a quarter of it.
 *
 * Removing never counts references: a node born in an older generation is
 * shared with an ancestor and is simply no longer pointed to, while one born
 * in the writer's generation is the writer's alone and is freed at once.
 */
import { type Node, type Ptr, itemBytes, kidAt, kidCount, lowerBound, measure, sepBytes, setKid, upperBound } from './node.js'

export interface NodeReader {
  node(p: Ptr): Node
}

export interface NodeWriter extends NodeReader {
  /** The generation this writer owns. */
  readonly gen: number
  readonly maxBytes: number
  /** A version of `n` this writer may change: `n` itself, or a private copy. */
  writable(n: Node): Node
  /** A new empty node born in the writer's generation. */
  create(level: number): Node
  /** `n` is no longer part of the writer's tree. */
  release(n: Node): void
}

export type ItemVisitor = (key: Buffer, val: Buffer) => void

export function lookup(r: NodeReader, root: Ptr, key: Buffer): Buffer | undefined {
  let n = r.node(root)
  while (n.level > 0) n = r.node(kidAt(n, upperBound(n.keys, key)))
  const i = lowerBound(n.keys, key)
  return i < n.keys.length && n.keys[i].equals(key) ? n.vals[i] : undefined
}

/** Calls `fn` for every item in [lo, hi) in key order until it returns false. */
export function scan(r: NodeReader, root: Ptr, lo: Buffer, hi: Buffer, fn: (k: Buffer, v: Buffer) => boolean | void): void {
  scanNode(r, r.node(root), lo, hi, fn)
}

function scanNode(r: NodeReader, n: Node, lo: Buffer, hi: Buffer, fn: (k: Buffer, v: Buffer) => boolean | void): boolean {
  if (n.level === 0) {
    for (let i = lowerBound(n.keys, lo); i < n.keys.length; i++) {
      if (Buffer.compare(n.keys[i], hi) >= 0) return false
      if (fn(n.keys[i], n.vals[i]) === false) return false
    }
    return true
  }
  for (let i = upperBound(n.keys, lo); i < kidCount(n); i++) {
    if (i > 0 && Buffer.compare(n.keys[i - 1], hi) >= 0) return false
    if (!scanNode(r, r.node(kidAt(n, i)), lo, hi, fn)) return false
  }
  return true
}

export function hasAny(r: NodeReader, root: Ptr, lo: Buffer, hi: Buffer): boolean {
  let found = false
  scan(r, root, lo, hi, () => {
    found = true
    return false
  })
  return found
}

/** Sets `key` to `val`; returns the new root. */
export function insert(w: NodeWriter, root: Ptr, key: Buffer, val: Buffer): Ptr {
  const r = w.writable(w.node(root))
  const split = put(w, r, key, val)
  if (!split) return r
  const top = w.create(r.level + 1)
  top.kids = [r.g, r.s, split.right.g, split.right.s]
  top.keys = [split.sep]
  top.bytes = measure(top)
  return top
}

interface Split {
  right: Node
  /** The lowest key of `right`: its separator in the parent. */
  sep: Buffer
}

function put(w: NodeWriter, n: Node, key: Buffer, val: Buffer): Split | undefined {
  if (n.level === 0) {
    const i = lowerBound(n.keys, key)
    if (i < n.keys.length && n.keys[i].equals(key)) {
      n.bytes += itemBytes(key, val) - itemBytes(key, n.vals[i])
      n.vals[i] = val
    } else {
      n.keys.splice(i, 0, key)
      n.vals.splice(i, 0, val)
      n.bytes += itemBytes(key, val)
    }
  } else {
    const i = upperBound(n.keys, key)
    const sp = put(w, child(w, n, i), key, val)
    if (sp) {
      n.keys.splice(i, 0, sp.sep)
      n.kids.splice(2 * (i + 1), 0, sp.right.g, sp.right.s)
      n.bytes += sepBytes(sp.sep)
    }
  }
  return n.bytes > w.maxBytes && n.keys.length > 1 ? split(w, n) : undefined
}

/** The writable version of child i, with the parent's pointer moved to it. */
function child(w: NodeWriter, n: Node, i: number): Node {
  const old = w.node(kidAt(n, i))
  const c = w.writable(old)
  if (c.g !== old.g || c.s !== old.s) setKid(n, i, c)
  return c
}

/** Moves the upper half of `n` (by bytes) to a new right sibling. */
function split(w: NodeWriter, n: Node): Split {
  const right = w.create(n.level)
  let sep: Buffer
  let acc = 0
  const half = n.bytes / 2
  if (n.level === 0) {
    let m = 0
    while (m < n.keys.length - 1 && acc < half) acc += itemBytes(n.keys[m], n.vals[m++])
    m = Math.max(1, m)
    right.keys = n.keys.splice(m)
    right.vals = n.vals.splice(m)
    sep = right.keys[0]
  } else {
    let m = 0
    while (m < n.keys.length - 1 && acc < half) acc += sepBytes(n.keys[m++])
    m = Math.min(Math.max(m, 1), n.keys.length - 1)
    sep = n.keys[m]
    right.keys = n.keys.splice(m).slice(1)
    right.kids = n.kids.splice(2 * (m + 1))
  }
  n.bytes = measure(n)
  right.bytes = measure(right)
  return { right, sep }
}

/** Deletes `key`; returns the new root and the value it had. */
export function remove(w: NodeWriter, root: Ptr, key: Buffer): { root: Ptr; old?: Buffer | undefined } {
  if (lookup(w, root, key) === undefined) return { root }
  const r = w.writable(w.node(root))
  const old = del(w, r, key)
  return { root: shrink(w, r), old }
}

function del(w: NodeWriter, n: Node, key: Buffer): Buffer | undefined {
  if (n.level === 0) {
    const i = lowerBound(n.keys, key)
    if (i >= n.keys.length || !n.keys[i].equals(key)) return undefined
    const old = n.vals[i]
    n.bytes -= itemBytes(key, old)
    n.keys.splice(i, 1)
    n.vals.splice(i, 1)
    return old
  }
  const i = upperBound(n.keys, key)
  const old = del(w, child(w, n, i), key)
  rebalance(w, n, i)
  return old
}

/**
 * Deletes every item in [lo, hi); returns the new root. `onItem` sees each
 * deleted item that lived in a node of the writer's generation (items in
 * older nodes are shared with an ancestor, so nothing they point to is freed).
 */
export function removeRange(w: NodeWriter, root: Ptr, lo: Buffer, hi: Buffer, onItem: ItemVisitor): Ptr {
  if (!hasAny(w, root, lo, hi)) return root
  const r = w.writable(w.node(root))
  cut(w, r, lo, hi, onItem)
  return shrink(w, r)
}

function cut(w: NodeWriter, n: Node, lo: Buffer, hi: Buffer, onItem: ItemVisitor): void {
  if (n.level === 0) {
    const a = lowerBound(n.keys, lo)
    const b = lowerBound(n.keys, hi)
    for (let i = a; i < b; i++) onItem(n.keys[i], n.vals[i])
    n.keys.splice(a, b - a)
    n.vals.splice(a, b - a)
    n.bytes = measure(n)
    return
  }
  const i0 = upperBound(n.keys, lo)
  const i1 = Math.max(i0, lowerBound(n.keys, hi))
  // Children strictly between the two boundary children lie wholly inside the range.
  for (let i = i0 + 1; i < i1; i++) drop(w, kidAt(n, i), onItem)
  if (i1 - i0 > 1) {
    n.kids.splice(2 * (i0 + 1), 2 * (i1 - i0 - 1))
    n.keys.splice(i0, i1 - i0 - 1)
  }
  cut(w, child(w, n, i0), lo, hi, onItem)
  if (i1 > i0) {
    cut(w, child(w, n, i0 + 1), lo, hi, onItem)
    rebalance(w, n, i0 + 1)
  }
  if (i0 < kidCount(n)) rebalance(w, n, i0)
  n.bytes = measure(n)
}

/** Forgets a whole subtree; frees the parts born in the writer's generation. */
function drop(w: NodeWriter, p: Ptr, onItem: ItemVisitor): void {
  if (p.g !== w.gen) return
  const n = w.node(p)
  if (n.level === 0) {
    for (let i = 0; i < n.keys.length; i++) onItem(n.keys[i], n.vals[i])
  } else {
    for (let i = 0; i < kidCount(n); i++) drop(w, kidAt(n, i), onItem)
  }
  w.release(n)
}

function isEmpty(n: Node): boolean {
  return n.level === 0 ? n.keys.length === 0 : kidCount(n) === 0
}

/**
 * After child i (writable) shrank: drops it if empty, or folds a sibling
 * into it when both fit comfortably in one node.
 */
function rebalance(w: NodeWriter, n: Node, i: number): void {
  const c = w.node(kidAt(n, i))
  if (isEmpty(c)) {
    n.kids.splice(2 * i, 2)
    n.keys.splice(i > 0 ? i - 1 : 0, 1)
    w.release(c)
    n.bytes = measure(n)
    return
  }
  if (c.bytes >= w.maxBytes / 4 || kidCount(n) < 2) return
  const j = i + 1 < kidCount(n) ? i + 1 : i - 1
  const sib = w.node(kidAt(n, j))
  const sep = n.keys[Math.min(i, j)]
  const joined = c.bytes + sib.bytes + (c.level > 0 ? sepBytes(sep) : 0)
  if (joined > (w.maxBytes * 3) / 4) return
  if (j > i) {
    if (c.level > 0) c.keys.push(sep)
    c.keys.push(...sib.keys)
    c.vals.push(...sib.vals)
    c.kids.push(...sib.kids)
    n.keys.splice(i, 1)
    n.kids.splice(2 * j, 2)
  } else {
    c.keys = c.level > 0 ? [...sib.keys, sep, ...c.keys] : [...sib.keys, ...c.keys]
    c.vals = [...sib.vals, ...c.vals]
    c.kids = [...sib.kids, ...c.kids]
    n.keys.splice(j, 1)
    n.kids.splice(2 * j, 2)
  }
  c.bytes = measure(c)
  n.bytes = measure(n)
  w.release(sib)
}

/** A root with a single child hands over to it; an emptied internal root becomes an empty leaf. */
function shrink(w: NodeWriter, r: Node): Ptr {
  while (r.level > 0) {
    if (kidCount(r) === 0) {
      w.release(r)
      return w.create(0)
    }
    if (kidCount(r) > 1) break
    const only = w.node(kidAt(r, 0))
    w.release(r)
    r = only
  }
  return r
}
