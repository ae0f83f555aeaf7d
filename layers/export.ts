/**
 * `exportDiff(sn, key)`: the OCI layer tar of a snapshot against its parent.
 * The changes come from the driver's `changes()` when it offers one (O(changes))
 * or from comparing the two trees (layers/treediff.ts). Output is deterministic:
 * entries in path order, names relative without `./`, no user or group names,
 * times as the snapshot holds them (whole seconds in the ustar field, a PAX
 * `mtime` with the fraction when there is one), every extended attribute as a
 * `SCHILY.xattr.*` record in byte order of names, whiteouts with time 0.
 * tar-stream writes PAX values as UTF-8 text, so the PAX header is built here
 * (layers/pax.ts) and the entry's own header always fits ustar.
 *
 * Deletions become `.wh.NAME`; an opaque directory is followed by its
 * `.wh..wh..opq`. Hard links stay links: the first path of an inode in the
 * layer carries the content and later ones link to it; when the inode also has
 * an unchanged path in the snapshot, every changed path links to that one
 * instead (found by one walk of the tree, only when such a link exists).
 */
import { Readable } from 'node:stream'
import tarStream from 'tar-stream'
import { major, minor } from '../fs/mknod.js'
import type { Change, ChangeLister, FileStat, SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { basename, dirname, joinPath, OPAQUE_MARKER, WHITEOUT_PREFIX } from './entry.js'
import { comparePaths, diffTrees } from './treediff.js'
import { encodePax, paxHeaderBlock, XATTR_PREFIX } from './pax.js'

const CHUNK = 1 << 16
const EMPTY = Buffer.alloc(0)
/** File-type bits: tar-stream replaces a mode of 0 by its default, these keep it from being 0. */
const IFMT = { file: 0o100000, dir: 0o40000, symlink: 0o120000, char: 0o20000, block: 0o60000, fifo: 0o10000 } as const
/** Largest id a ustar header holds in octal; bigger ones go to PAX. */
const MAX_USTAR_ID = 0o7777777

type Pack = tarStream.Pack
type Header = Parameters<Pack['entry']>[0]

/** The changes of `key` against its parent: the driver's listing, or the generic comparison. */
export function listChanges(sn: Snapshotter, key: string, upper: SnapshotFs, lower: SnapshotFs | undefined): AsyncIterable<Change> {
  const lister = (sn as Partial<ChangeLister>).changes
  return typeof lister === 'function' ? lister.call(sn, key) : diffTrees(lower, upper)
}

export interface ExportOptions {
  /** Use the generic comparison even when the driver lists its own changes. */
  generic?: boolean
}

export function exportDiff(sn: Snapshotter, key: string, opts: ExportOptions = {}): Readable {
  const pack = tarStream.pack()
  produce(sn, key, pack, opts).then(
    () => pack.finalize(),
    (err: Error) => pack.destroy(err),
  )
  return Readable.from(pack as AsyncIterable<Buffer>, { objectMode: false })
}

async function produce(sn: Snapshotter, key: string, pack: Pack, opts: ExportOptions): Promise<void> {
  const info = await sn.stat(key)
  const upper = await sn.open(key)
  let lower: SnapshotFs | undefined
  try {
    if (info.parent !== undefined) lower = await sn.open(info.parent)
    const source = opts.generic ? diffTrees(lower, upper) : listChanges(sn, key, upper, lower)
    const changes: Change[] = []
    for await (const c of source) changes.push(c)
    changes.sort((a, b) => comparePaths(a.path, b.path))
    const writer = new EntryWriter(pack, upper)
    await writer.findUnchangedLinks(changes)
    for (const c of changes) await writer.write(c)
  } finally {
    await lower?.close()
    await upper.close()
  }
}

class EntryWriter {
  readonly #pack: Pack
  readonly #fs: SnapshotFs
  /** inode → the path later links of it point to. */
  readonly #links = new Map<number, string>()

  constructor(pack: Pack, fs: SnapshotFs) {
    this.#pack = pack
    this.#fs = fs
  }

  /** Links of changed files to paths the layer does not carry: those paths are their link targets. */
  async findUnchangedLinks(changes: Change[]): Promise<void> {
    const counts = new Map<number, { nlink: number; seen: number }>()
    for (const c of changes) {
      if (c.kind === 'delete') continue
      const st = await this.#fs.lstat(c.path)
      if (st.type === 'dir' || st.nlink < 2) continue
      const n = counts.get(st.ino) ?? { nlink: st.nlink, seen: 0 }
      n.seen++
      counts.set(st.ino, n)
    }
    const wanted = new Set([...counts].filter(([, n]) => n.seen < n.nlink).map(([ino]) => ino))
    if (wanted.size === 0) return
    const changed = new Set(changes.map((c) => c.path))
    await this.#walk('/', async (path, st) => {
      if (wanted.has(st.ino) && !changed.has(path) && !this.#links.has(st.ino)) this.#links.set(st.ino, path)
    })
  }

  async #walk(dir: string, visit: (path: string, st: FileStat) => Promise<void>): Promise<void> {
    for (const name of await this.#fs.readdir(dir)) {
      const path = joinPath(dir, name)
      const st = await this.#fs.lstat(path)
      if (st.type === 'dir') await this.#walk(path, visit)
      else if (st.nlink > 1) await visit(path, st)
    }
  }

  async write(c: Change): Promise<void> {
    if (c.kind === 'delete') {
      return this.#entry({
        name: rel(joinPath(dirname(c.path), WHITEOUT_PREFIX + basename(c.path))),
        type: 'file',
        mode: IFMT.file,
        size: 0,
        mtime: new Date(0),
      })
    }
    const st = await this.#fs.lstat(c.path)
    const base = {
      name: rel(c.path),
      mode: st.mode,
      mtime: wholeSeconds(st.mtimeNs),
      mtimeNs: st.mtimeNs,
      ...owner(st),
      xattrs: await this.#xattrs(c.path),
    }
    switch (st.type) {
      case 'dir':
        await this.#entry({ ...base, type: 'directory', mode: IFMT.dir | st.mode })
        if (c.opaque)
          await this.#entry({
            ...base,
            name: rel(joinPath(c.path, OPAQUE_MARKER)),
            xattrs: [],
            type: 'file',
            mode: IFMT.file | (st.mode & 0o777),
            size: 0,
          })
        return
      case 'symlink':
        return this.#entry({ ...base, type: 'symlink', mode: IFMT.symlink | st.mode, linkname: await this.#fs.readlink(c.path) })
      case 'char':
      case 'block':
        return this.#entry({
          ...base,
          type: st.type === 'char' ? 'character-device' : 'block-device',
          mode: IFMT[st.type] | st.mode,
          devmajor: major(st.rdev ?? 0),
          devminor: minor(st.rdev ?? 0),
        })
      case 'fifo':
        return this.#entry({ ...base, type: 'fifo', mode: IFMT.fifo | st.mode })
      case 'file':
        return this.#file(c.path, st, base)
      default:
        return // a socket belongs to a running process; tar cannot hold one
    }
  }

  async #file(path: string, st: FileStat, base: EntryHeader): Promise<void> {
    if (st.nlink > 1) {
      const first = this.#links.get(st.ino)
      if (first !== undefined) return this.#entry({ ...base, xattrs: [], type: 'link', mode: IFMT.file | st.mode, linkname: rel(first) })
      this.#links.set(st.ino, path)
    }
    const fh = await this.#fs.open(path, 'r')
    try {
      let sink!: ReturnType<Pack['entry']>
      const header = await this.#paxFor({ ...base, type: 'file', mode: IFMT.file | st.mode, size: st.size })
      const done = new Promise<void>((resolve, reject) => {
        sink = this.#pack.entry(header, (err) => (err ? reject(err) : resolve()))
      })
      for (let pos = 0; pos < st.size; pos += CHUNK) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, st.size - pos))
        const n = await fh.read(buf, 0, buf.length, pos)
        if (n < buf.length) throw new Error(`${path} shrank while it was exported`)
        if (!sink.write(buf)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()))
      }
      sink.end(undefined as never)
      await done
    } finally {
      await fh.close()
    }
  }

  /** The path's extended attributes in byte order of names (listxattr sorts them). */
  async #xattrs(path: string): Promise<Array<[string, Buffer]>> {
    const out: Array<[string, Buffer]> = []
    for (const name of await this.#fs.listxattr(path)) out.push([name, await this.#fs.getxattr(path, name)])
    return out
  }

  /** An entry without content (a file's must still be ended, so it gets an empty buffer). */
  async #entry(header: EntryHeader): Promise<void> {
    const h = await this.#paxFor(header)
    return new Promise((resolve, reject) => this.#pack.entry(h, EMPTY, (err) => (err ? reject(err) : resolve())))
  }

  /**
   * Writes the entry's PAX header when it needs one (a long or non-ASCII name
   * or target, a large id, a sub-second mtime, xattrs) and returns the ustar
   * header to follow it, which then always fits ustar.
   */
  async #paxFor(header: EntryHeader): Promise<Header> {
    const { xattrs = [], mtimeNs, ...h } = header
    const records: Array<[string, Buffer]> = []
    if (!fitsUstar(h.type === 'directory' && !h.name.endsWith('/') ? `${h.name}/` : h.name)) {
      records.push(['path', Buffer.from(h.name)])
      h.name = placeholder(h.name)
    }
    if (h.linkname && (!isAscii(h.linkname) || h.linkname.length > 100)) {
      records.push(['linkpath', Buffer.from(h.linkname)])
      h.linkname = placeholder(h.linkname)
    }
    if (h.pax) for (const [k, v] of Object.entries(h.pax)) records.push([k, Buffer.from(v)])
    delete h.pax
    if (mtimeNs !== undefined && mtimeNs % 1_000_000_000n !== 0n) records.push(['mtime', Buffer.from(paxTime(mtimeNs))])
    for (const [name, value] of xattrs) records.push([XATTR_PREFIX + name, value])
    if (records.length === 0) return h
    // Between entries the pack is idle, so the PAX header's bytes go straight into its output.
    this.#pack.push(paxHeaderBlock(placeholder(`PaxHeaders/${basename(h.name)}`), encodePax(records), h.mtime ?? new Date(0)))
    return h
  }
}

type EntryHeader = Header & { xattrs?: Array<[string, Buffer]>; mtimeNs?: bigint }

function wholeSeconds(ns: bigint): Date {
  const s = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n)
  return new Date(Number(s) * 1000)
}

/** `sec.frac` with the fraction's trailing zeros cut, as GNU tar writes it. */
function paxTime(ns: bigint): string {
  const neg = ns < 0n
  const a = neg ? -ns : ns
  const frac = (a % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '')
  return `${neg ? '-' : ''}${a / 1_000_000_000n}${frac ? `.${frac}` : ''}`
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0 || c > 0x7f) return false
  }
  return true
}

/** What tar-stream's ustar encoder accepts: ASCII, and a name of ≤ 100 bytes after a prefix of ≤ 155 split at a '/'. */
function fitsUstar(name: string): boolean {
  if (!isAscii(name)) return false
  if (name.length <= 100) return true
  const i = name.indexOf('/', name.length - 101)
  return i > 0 && i <= 155 && name.length - i - 1 <= 100
}

/** A ustar-safe stand-in for a name that travels in PAX (readers take the PAX one). */
function placeholder(name: string): string {
  return name.replace(/[^\x20-\x7e]/g, '_').slice(-100)
}

function rel(path: string): string {
  return path.slice(1)
}

function owner(st: FileStat): { uid: number; gid: number; pax?: Record<string, string> } {
  if (st.uid <= MAX_USTAR_ID && st.gid <= MAX_USTAR_ID) return { uid: st.uid, gid: st.gid }
  return { uid: 0, gid: 0, pax: { uid: String(st.uid), gid: String(st.gid) } }
}
