/**
 * A faithful copy of a directory tree on one host: regular files (holes stay
 * holes), directories, symlinks verbatim (never followed), hard links kept as
 * links, FIFOs and devices; mode bits with setuid/setgid/sticky, ownership and
 * times (a directory's after its children, or writing them would move it).
 *
 * Small files and metadata go through synchronous calls, which are several
 * times faster than promise chains per file (research/node-deps.md §3), with
 * a yield to the event loop every few milliseconds; large files are copied
 * off the loop by libuv (copy_file_range, which clones on btrfs/xfs).
 */
import * as fs from 'node:fs'
import { copyFile, open } from 'node:fs/promises'
import { join } from 'node:path'
import { mknodAt } from './mknod.js'

const BIG_FILE = 1 << 20
const SLICE_MS = 8
const CHUNK = 1 << 20
const ZERO = Buffer.alloc(CHUNK)
const isRoot = process.getuid?.() === 0

export interface CopyOptions {
  /** Called before each entry; returning false leaves it (and, for a directory, its contents) out. */
  filter?: (relPath: string, st: fs.Stats) => boolean
}

interface State {
  links: Map<string, string>
  deadline: number
  filter?: CopyOptions['filter']
}

async function maybeYield(state: State): Promise<void> {
  if (Date.now() < state.deadline) return
  await new Promise<void>((resolve) => setImmediate(resolve))
  state.deadline = Date.now() + SLICE_MS
}

/** Copies `src` (a directory) to `dst`, which must not exist yet. */
export async function copyTree(src: string, dst: string, opts: CopyOptions = {}): Promise<void> {
  const st = fs.lstatSync(src)
  const state: State = { links: new Map(), deadline: Date.now() + SLICE_MS, filter: opts.filter }
  await copyEntry(src, dst, '', st, state)
}

async function copyEntry(src: string, dst: string, rel: string, st: fs.Stats, state: State): Promise<void> {
  await maybeYield(state)
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
  if (st.isFile()) await copyFileData(src, dst, st)
  else if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst)
  else if (st.isFIFO()) await mknodAt(dst, 'fifo', st.mode & 0o7777)
  else if (st.isCharacterDevice()) await mknodAt(dst, 'char', st.mode & 0o7777, st.rdev)
  else if (st.isBlockDevice()) await mknodAt(dst, 'block', st.mode & 0o7777, st.rdev)
  else return // sockets belong to a running process; a copy of one is meaningless
  copyAttributes(dst, st)
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
  copyAttributes(dst, st)
}

/** Owner first: chown clears setuid/setgid, so the mode must come after it. */
function copyAttributes(dst: string, st: fs.Stats): void {
  try {
    fs.lchownSync(dst, st.uid, st.gid)
  } catch (err) {
    if (isRoot) throw err
  }
  if (!st.isSymbolicLink()) fs.chmodSync(dst, st.mode & 0o7777)
  fs.lutimesSync(dst, st.atimeMs / 1000, st.mtimeMs / 1000)
}

async function copyFileData(src: string, dst: string, st: fs.Stats): Promise<void> {
  const sparse = st.blocks * 512 < st.size
  if (sparse) return copySparse(src, dst, st.size)
  if (st.size >= BIG_FILE) return copyFile(src, dst)
  fs.copyFileSync(src, dst)
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
