/**
 * A faithful copy of a directory tree on one host: regular files (holes stay
 * holes), directories, symlinks verbatim (never followed), hard links kept as
 * links, FIFOs and devices; mode bits with setuid/setgid/sticky, ownership and
 * extended attributes of every namespace the host lets us read; times to the
 * nanosecond (a directory's after its children, or writing them would move it).
 *
 * Small files and metadata go through synchronous calls, which are several
 * times faster than promise chains per file (research/node-deps.md §3), with
 * a yield to the event loop every few milliseconds; large files are copied
 * off the loop by libuv (copy_file_range, which clones on btrfs/xfs).
 */
import { execFile } from 'node:child_process'
import * as fs from 'node:fs'
import { copyFile, open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { mknodAt } from './mknod.js'
import { Yielder } from './yielder.js'
import { setHostTimes } from './hosttimes.js'
import { hostGetXattr, hostListXattrs, hostSetXattr } from './hostxattr.js'

const BIG_FILE = 1 << 20
const CHUNK = 1 << 20
const ZERO = Buffer.alloc(CHUNK)
const isRoot = process.getuid?.() === 0

export interface CopyOptions {
  /** Called before each entry; returning false leaves it (and, for a directory, its contents) out. */
  filter?: (relPath: string, st: fs.Stats) => boolean
}

interface State {
  links: Map<string, string>
  yielder: Yielder
  filter?: CopyOptions['filter']
}

/**
 * The same copy made by GNU `cp -a` (holes, links, devices, owners, modes
 * and times kept, extended attributes too): one process walking the tree in
 * C, where copyTree pays about 1.3× for its calls out of JavaScript on a
 * tree of thousands of small files. copyTree where there is no cp.
 */
export async function copyTreeByCp(src: string, dst: string): Promise<void> {
  const failure = await new Promise<{ code: string | undefined; stderr: string } | undefined>((resolve) => {
    execFile('cp', ['-a', '--reflink=auto', '--no-target-directory', src, dst], { maxBuffer: 1 << 20 }, (err, _out, stderr) =>
      resolve(err ? { code: (err as NodeJS.ErrnoException).code as string | undefined, stderr: String(stderr) } : undefined),
    )
  })
  if (failure === undefined) return
  if (failure.code === 'ENOENT') return copyTree(src, dst)
  await rm(dst, { recursive: true, force: true })
  throw new Error(`cp -a ${src}: ${failure.stderr.trim().split('\n')[0]}`)
}

/** Copies `src` (a directory) to `dst`, which must not exist yet. */
export async function copyTree(src: string, dst: string, opts: CopyOptions = {}): Promise<void> {
  const st = fs.lstatSync(src)
  const state: State = { links: new Map(), yielder: new Yielder(), filter: opts.filter }
  await copyEntry(src, dst, '', st, state)
}

async function copyEntry(src: string, dst: string, rel: string, st: fs.Stats, state: State): Promise<void> {
  await state.yielder.maybeYield()
  if (st.isDirectory()) return copyDir(src, dst, rel, st, state)
  if (st.nlink > 1) {
    const id = `${st.dev}:${st.ino}`
    const first = state.links.get(id)
    if (first !== undefined) {
      fs.linkSync(first, dst)
      return
    }
    state.links.set(id, dst)
  }
  if (st.isFile()) {
    const modeSet = await copyFileData(src, dst, st)
    copyAttributes(src, dst, st, modeSet)
    return
  } else if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst)
  else if (st.isFIFO()) await mknodAt(dst, 'fifo', st.mode & 0o7777)
  else if (st.isCharacterDevice()) await mknodAt(dst, 'char', st.mode & 0o7777, st.rdev)
  else if (st.isBlockDevice()) await mknodAt(dst, 'block', st.mode & 0o7777, st.rdev)
  else return // sockets belong to a running process; a copy of one is meaningless
  copyAttributes(src, dst, st)
}

async function copyDir(src: string, dst: string, rel: string, st: fs.Stats, state: State): Promise<void> {
  fs.mkdirSync(dst, { mode: 0o700 })
  for (const name of fs.readdirSync(src)) {
    const from = join(src, name)
    const cst = fs.lstatSync(from)
    const crel = rel === '' ? name : `${rel}/${name}`
    if (state.filter && !state.filter(crel, cst)) continue
    await copyEntry(from, join(dst, name), crel, cst, state)
  }
  copyAttributes(src, dst, st)
}

const UID = process.geteuid?.() ?? -1
const GID = process.getegid?.() ?? -1

/**
 * Owner first: chown clears setuid/setgid, so the mode must come after it;
 * chown and writes also drop security.capability, so xattrs come after both;
 * times last, to the nanosecond.
 * A new entry is ours already, so chown is left out where it would change
 * nothing, and so is chmod after a file copy (libuv's copy gave the file
 * its mode) unless a chown just cleared setuid or setgid.
 */
function copyAttributes(src: string, dst: string, st: fs.Stats, modeSet = false): void {
  const chowned = st.uid !== UID || st.gid !== GID
  if (chowned) {
    try {
      fs.lchownSync(dst, st.uid, st.gid)
    } catch (err) {
      if (isRoot) throw err
    }
  }
  if (!st.isSymbolicLink() && !(modeSet && !(chowned && st.mode & 0o6000))) fs.chmodSync(dst, st.mode & 0o7777)
  copyXattrs(src, dst)
  const times = fs.lstatSync(src, { bigint: true })
  setHostTimes(dst, times.atimeNs, times.mtimeNs, false)
}

/** Every attribute the file system lets us read; one it refuses to write is an error for root only. */
function copyXattrs(src: string, dst: string): void {
  for (const name of hostListXattrs(src)) {
    const value = hostGetXattr(src, name)
    if (value === undefined) continue
    try {
      hostSetXattr(dst, name, value)
    } catch (err) {
      if (isRoot) throw err
    }
  }
}

/** Copies the bytes; true when the copy also gave the file its mode (libuv's copyfile does). */
async function copyFileData(src: string, dst: string, st: fs.Stats): Promise<boolean> {
  const sparse = st.blocks * 512 < st.size
  if (sparse) {
    await copySparse(src, dst, st.size)
    return false
  }
  if (st.size >= BIG_FILE) await copyFile(src, dst)
  else fs.copyFileSync(src, dst)
  return true
}

/** Writes only the non-zero 4 KiB blocks and sets the length: holes stay holes. */
async function copySparse(src: string, dst: string, size: number): Promise<void> {
  const input = await open(src, 'r')
  const output = await open(dst, 'w', 0o600)
  try {
    const buf = Buffer.allocUnsafe(CHUNK)
    for (let pos = 0; pos < size; pos += CHUNK) {
      const { bytesRead } = await input.read(buf, 0, CHUNK, pos)
      if (bytesRead === 0) break
      for (const [start, end] of dataRuns(buf.subarray(0, bytesRead))) {
        await output.write(buf, start, end - start, pos + start)
      }
    }
    await output.truncate(size)
  } finally {
    await input.close()
    await output.close()
  }
}

const BLOCK = 4096

/** [start, end) ranges of `buf` that hold a non-zero byte, at 4 KiB granularity. */
export function dataRuns(buf: Buffer): Array<[number, number]> {
  const runs: Array<[number, number]> = []
  let start = -1
  for (let off = 0; off < buf.length; off += BLOCK) {
    const end = Math.min(off + BLOCK, buf.length)
    const zero = buf.subarray(off, end).equals(ZERO.subarray(0, end - off))
    if (!zero && start < 0) start = off
    if (zero && start >= 0) {
      runs.push([start, off])
      start = -1
    }
  }
  if (start >= 0) runs.push([start, buf.length])
  return runs
}
