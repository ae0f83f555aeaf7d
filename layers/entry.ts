/**
 * The rules that turn one tar header into one operation on a snapshot (pure,
 * no I/O). Names are cleaned as Docker does: a leading `/` is dropped, `.`
 * and empty components vanish, `..` may not climb above the root. Whiteouts
 * follow the OCI image-spec: `.wh.NAME` removes NAME from the layers below,
 * `.wh..wh..opq` hides everything below in its directory, other `.wh..wh.`
 * names are AUFS bookkeeping and are skipped, and a bare `.wh.` (or `.wh..`,
 * `.wh...`) is an error.
 */
import { InvalidLayerError } from './errors.js'
import { parsePax, paxXattrs } from './pax.js'

export const WHITEOUT_PREFIX = '.wh.'
export const WHITEOUT_META_PREFIX = '.wh..wh.'
export const OPAQUE_MARKER = '.wh..wh..opq'

/** Linux PATH_MAX: no name or link target in a layer may be longer. */
export const MAX_PATH_BYTES = 4096

/** What tar-stream hands over: its header plus the raw PAX records. */
export interface TarHeader {
  name: string
  type?: string | null
  mode?: number
  uid?: number
  gid?: number
  size?: number
  mtime?: Date
  linkname?: string | null
  devmajor?: number
  devminor?: number
  pax?: Record<string, string> | null
  /** The entry's PAX header as bytes (layers/pax.ts keepRawPax), for binary xattr values. */
  paxRaw?: Buffer | null
}

export type NodeKind = 'dir' | 'file' | 'symlink' | 'link' | 'fifo' | 'char' | 'block'

export interface Attributes {
  /** Permission bits with setuid, setgid and sticky. */
  mode: number
  uid: number
  gid: number
  /** Nanoseconds since the epoch (PAX mtime keeps its fraction). */
  mtimeNs: bigint
}

export type EntryOp =
  | { kind: 'skip'; path: string; why: string }
  /** Remove `path` (and what is under it) as the lower layers have it. */
  | { kind: 'whiteout'; path: string }
  /** Hide every lower entry of directory `path`. */
  | { kind: 'opaque'; path: string }
  | ({
      kind: NodeKind
      path: string
      size: number
      /** Symlink target (verbatim) or hard-link target (a cleaned absolute path). */
      target?: string
      devmajor?: number
      devminor?: number
      /** Extended attributes the entry carries (SCHILY.xattr.*), values as bytes. */
      xattrs: Map<string, Buffer>
    } & Attributes)

const KINDS: Record<string, NodeKind> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'dir',
  symlink: 'symlink',
  link: 'link',
  fifo: 'fifo',
  'character-device': 'char',
  'block-device': 'block',
}

/**
 * The absolute path inside the snapshot that a tar name means ('/' for the
 * root). Throws 'unsafe-path' for a name that climbs out, is empty, or holds NUL.
 */
export function cleanEntryPath(name: string, entry = name): string {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidLayerError('unsafe-path', 'empty name', { entry })
  if (name.includes('\0')) throw new InvalidLayerError('unsafe-path', 'name holds NUL', { entry })
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) {
    throw new InvalidLayerError('too-large', `name is over ${MAX_PATH_BYTES} bytes`, { entry: name.slice(0, 80) })
  }
  const stack: string[] = []
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue
    if (part === '..') {
      if (stack.length === 0) throw new InvalidLayerError('unsafe-path', 'name climbs above the root', { entry })
      stack.pop()
    } else {
      stack.push(part)
    }
  }
  return '/' + stack.join('/')
}

export function dirname(path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

function paxNumber(pax: Record<string, string> | null | undefined, key: string, entry: string): number | undefined {
  const raw = pax?.[key]
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n))
    throw new InvalidLayerError('corrupt', `PAX ${key}=${JSON.stringify(raw.slice(0, 40))} is not a number`, { entry })
  return n
}

function attributes(h: TarHeader, entry: string): Attributes {
  const uid = paxNumber(h.pax, 'uid', entry) ?? h.uid ?? 0
  const gid = paxNumber(h.pax, 'gid', entry) ?? h.gid ?? 0
  if (!isId(uid) || !isId(gid)) throw new InvalidLayerError('corrupt', `owner ${uid}:${gid} is not a valid uid:gid`, { entry })
  const paxTime = h.pax?.mtime
  const mtimeNs = paxTime !== undefined ? decimalToNs(paxTime, entry) : BigInt(h.mtime?.getTime() ?? 0) * 1_000_000n
  return { mode: (h.mode ?? 0) & 0o7777, uid, gid, mtimeNs }
}

/** A PAX time (`-?sec[.frac]`) as exact nanoseconds; digits past the ninth are cut, as GNU tar does. */
function decimalToNs(raw: string, entry: string): bigint {
  const m = /^(-?)([0-9]{1,19})(?:\.([0-9]+))?$/.exec(raw)
  if (!m) throw new InvalidLayerError('corrupt', `PAX mtime=${JSON.stringify(raw.slice(0, 40))} is not a time`, { entry })
  const ns = BigInt(m[2]) * 1_000_000_000n + BigInt((m[3] ?? '').slice(0, 9).padEnd(9, '0'))
  return m[1] === '-' ? -ns : ns
}

function isId(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n <= 0xfffffffe
}

/** The whiteout meaning of a base name, or undefined for an ordinary name. */
function whiteoutOf(base: string, dir: string, entry: string): EntryOp | undefined {
  if (!base.startsWith(WHITEOUT_PREFIX)) return undefined
  if (base === OPAQUE_MARKER) return { kind: 'opaque', path: dir }
  if (base.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'skip', path: joinPath(dir, base), why: 'AUFS metadata' }
  const name = base.slice(WHITEOUT_PREFIX.length)
  if (name === '' || name === '.' || name === '..') {
    throw new InvalidLayerError('bad-whiteout', `${JSON.stringify(base)} names no entry`, { entry })
  }
  return { kind: 'whiteout', path: joinPath(dir, name) }
}

/** What one header asks for. Throws InvalidLayerError for input the rules refuse. */
export function entryOp(h: TarHeader): EntryOp {
  const entry = h.name
  const path = cleanEntryPath(h.name, entry)
  const parts = path.split('/').slice(1)
  for (const part of parts.slice(0, -1)) {
    if (part.startsWith(WHITEOUT_META_PREFIX)) return { kind: 'skip', path, why: 'inside AUFS metadata' }
    if (part.startsWith(WHITEOUT_PREFIX)) throw new InvalidLayerError('bad-whiteout', 'a path under a whiteout', { entry })
  }
  const xattrs = paxXattrs(h.paxRaw ? parsePax(h.paxRaw, entry) : undefined, entry)
  if (path !== '/') {
    const wh = whiteoutOf(basename(path), dirname(path), entry)
    if (wh && wh.kind !== 'skip' && xattrs.size > 0) {
      throw new InvalidLayerError('bad-whiteout', 'a whiteout carries extended attributes', { entry })
    }
    if (wh) return wh
  }
  const kind = KINDS[h.type ?? '']
  if (!kind) throw new InvalidLayerError('unsupported', `entry type ${JSON.stringify(h.type)} is not supported`, { entry })
  const op = {
    kind,
    path,
    size: kind === 'file' ? (h.size ?? 0) : 0,
    xattrs,
    ...attributes(h, entry),
  } as EntryOp & { kind: NodeKind }
  if (kind === 'symlink') op.target = symlinkTarget(h.linkname, entry)
  if (kind === 'link') op.target = cleanEntryPath(h.linkname ?? '', entry)
  if (kind === 'char' || kind === 'block') {
    op.devmajor = h.devmajor ?? 0
    op.devminor = h.devminor ?? 0
  }
  if (kind === 'link' && op.target === '/') throw new InvalidLayerError('conflict', 'hard link to the root directory', { entry })
  return op
}

/** A symlink is stored verbatim, absolute or not: only its syntax is checked. */
function symlinkTarget(target: string | null | undefined, entry: string): string {
  if (!target) throw new InvalidLayerError('corrupt', 'symlink without a target', { entry })
  if (target.includes('\0')) throw new InvalidLayerError('unsafe-path', 'symlink target holds NUL', { entry })
  if (Buffer.byteLength(target) >= MAX_PATH_BYTES) throw new InvalidLayerError('too-large', 'symlink target is too long', { entry })
  return target
}

/** Bytes of PAX records an entry carries (keys and values). */
export function paxBytes(pax: Record<string, string> | null | undefined): number {
  if (!pax) return 0
  let n = 0
  for (const [k, v] of Object.entries(pax)) n += Buffer.byteLength(k) + Buffer.byteLength(v)
  return n
}
