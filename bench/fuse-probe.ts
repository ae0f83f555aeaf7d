/**
 * The bare FUSE probe: the same in-memory file system (one 256 MiB file,
 * four 64 MiB files, nothing else) served by each binding strata could use,
 * measured side by side in one run. It is the ceiling a SnapshotFs behind
 * the binding can reach, and the measurement the binding was chosen by.
 *
 *   core/fuse      strata's server on the kernel protocol (worker-thread readers)
 *   fuse-native    fuse-native 2.2.6 on Debian's libfuse2, if FUSE_NATIVE_DIR
 *                  names a directory whose node_modules holds it (not a
 *                  dependency of strata: it is only measured here)
 *
 * Run as root: `node dist/bench/fuse-probe.js` (FUSE_PROBE_READERS=1,2,4
 * picks core/fuse reader thread counts). Needs dd and fio.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, mkdir, rm } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { posixError } from '../core/errors.js'
import { FuseServer } from '../core/fuse/index.js'
import type { FileHandle, FileStat, SnapshotFs } from '../core/snapshotter.js'

const run = promisify(execFile)
const MiB = 1 << 20
const FILES: Record<string, Buffer> = {}

function fill(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i += 4096) b.writeUInt32LE((i + seed) >>> 0, i)
  return b
}

function statOf(name: string): FileStat {
  const now = Date.now()
  const ns = BigInt(now) * 1_000_000n
  const times = { mtimeMs: now, mtimeNs: ns, atimeNs: ns, ctimeNs: ns }
  if (name === '/') return { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, nlink: 2, ino: 1, ...times }
  const data = FILES[name.slice(1)]
  if (!data) throw posixError('ENOENT', 'lstat', name)
  return {
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    nlink: 1,
    ino: 2 + Object.keys(FILES).indexOf(name.slice(1)),
    ...times,
  }
}

/** Just enough SnapshotFs for reads: lookups, getattr, open and read. */
function memFs(): SnapshotFs {
  const handle = (data: Buffer, name: string): FileHandle => ({
    async read(buf, off, len, pos) {
      const n = Math.max(0, Math.min(len, data.length - pos))
      data.copy(buf, off, pos, pos + n)
      return n
    },
    async write() {
      throw posixError('EROFS', 'write', name)
    },
    async truncate() {
      throw posixError('EROFS', 'truncate', name)
    },
    async sync() {},
    async stat() {
      return statOf(name)
    },
    async close() {},
  })
  const fs = {
    readOnly: false,
    async lstat(p: string) {
      return statOf(p)
    },
    async stat(p: string) {
      return statOf(p)
    },
    async readdir() {
      return Object.keys(FILES)
    },
    async open(p: string) {
      statOf(p)
      return handle(FILES[p.slice(1)], p)
    },
    async close() {},
  }
  return fs as unknown as SnapshotFs
}

export interface Figures {
  seq1: number
  seq4: number
  iops: number
  statUs: number
}

async function dd(file: string): Promise<number> {
  const t = process.hrtime.bigint()
  await run('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M'])
  return Number(process.hrtime.bigint() - t) / 1e9
}

/** Sequential MB/s with one reader (256 MiB) and four (4 × 64 MiB), 4 KiB random IOPS, µs per uncached lstat. */
export async function measure(mnt: string): Promise<Figures> {
  await dd(join(mnt, 'big')) // warm the server's code paths, not the page cache (FUSE opens drop it)
  const s1 = await dd(join(mnt, 'big'))
  const t = process.hrtime.bigint()
  await Promise.all([0, 1, 2, 3].map((i) => dd(join(mnt, `part${i}`))))
  const s4 = Number(process.hrtime.bigint() - t) / 1e9
  const { stdout } = await run('fio', [
    '--name=r',
    `--filename=${join(mnt, 'big')}`,
    '--rw=randread',
    '--bs=4k',
    '--direct=1',
    '--ioengine=psync',
    '--runtime=3',
    '--time_based',
    '--output-format=json',
  ])
  const iops = (JSON.parse(stdout) as { jobs: { read: { iops: number } }[] }).jobs[0].read.iops
  const { stdout: st } = await run('sh', [
    '-c',
    `cd ${mnt} && s=$(date +%s%N); i=0; while [ $i -lt 2000 ]; do stat -c %i missing-$i >/dev/null 2>&1; i=$((i+1)); done; e=$(date +%s%N); echo $(( (e-s)/2000 ))`,
  ])
  const { stdout: base } = await run('sh', [
    '-c',
    `cd /tmp && s=$(date +%s%N); i=0; while [ $i -lt 2000 ]; do stat -c %i missing-$i >/dev/null 2>&1; i=$((i+1)); done; e=$(date +%s%N); echo $(( (e-s)/2000 ))`,
  ])
  // The loop's own cost (fork+exec of stat) measured on tmpfs-free /tmp and subtracted.
  return { seq1: (256 / s1) * 1.048576, seq4: (256 / s4) * 1.048576, iops, statUs: (Number(st) - Number(base)) / 1000 }
}

async function coreFuse(mnt: string, readers: number): Promise<Figures> {
  const server = await FuseServer.serve(memFs(), mnt, { readers, fsName: 'probe' })
  try {
    return await measure(mnt)
  } finally {
    await server.unmount({ lazy: true })
  }
}

interface FuseNative {
  mount(cb: (err: Error | null) => void): void
  unmount(cb: (err: Error | null) => void): void
}

async function fuseNative(mnt: string, dir: string): Promise<Figures> {
  const req = createRequire(join(dir, 'index.js'))
  const Fuse = req('fuse-native') as new (mnt: string, ops: object, opts: object) => FuseNative
  const names = Object.keys(FILES)
  const attr = (p: string) => {
    const s = statOf(p)
    const now = new Date()
    return {
      mtime: now,
      atime: now,
      ctime: now,
      nlink: s.nlink,
      size: s.size,
      mode: (s.type === 'dir' ? 0o040000 : 0o100000) | s.mode,
      uid: 0,
      gid: 0,
      ino: s.ino,
    }
  }
  type Cb = (code: number, ...rest: unknown[]) => void
  const ops = {
    readdir: (_p: string, cb: Cb) => setImmediate(() => cb(0, names)),
    getattr: (p: string, cb: Cb) =>
      setImmediate(() => {
        try {
          cb(0, attr(p))
        } catch {
          cb(-2)
        }
      }),
    open: (p: string, _f: number, cb: Cb) => setImmediate(() => (FILES[p.slice(1)] ? cb(0, 42) : cb(-2))),
    release: (_p: string, _fd: number, cb: Cb) => setImmediate(() => cb(0)),
    read: (p: string, _fd: number, buf: Buffer, len: number, pos: number, cb: Cb) =>
      setImmediate(() => {
        const data = FILES[p.slice(1)]
        const n = Math.max(0, Math.min(len, data.length - pos))
        data.copy(buf, 0, pos, pos + n)
        cb(n)
      }),
  }
  const fuse = new Fuse(mnt, ops, {
    fsname: 'probe-native,use_ino',
    allowOther: true,
    defaultPermissions: true,
    maxRead: MiB,
    timeout: false,
  })
  await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())))
  try {
    return await measure(mnt)
  } finally {
    await new Promise<void>((resolve) => fuse.unmount(() => resolve()))
  }
}

function row(label: string, f: Figures, ref?: Figures): string {
  const r = (a: number, b?: number) => (b ? ` (${(a / b).toFixed(2)}×)` : '')
  return `| ${label} | ${f.seq1.toFixed(0)}${r(f.seq1, ref?.seq1)} | ${f.seq4.toFixed(0)}${r(f.seq4, ref?.seq4)} | ${f.iops.toFixed(0)}${r(f.iops, ref?.iops)} | ${f.statUs.toFixed(1)} |`
}

export async function main(): Promise<void> {
  FILES.big = fill(256 * MiB, 1)
  for (let i = 0; i < 4; i++) FILES[`part${i}`] = fill(64 * MiB, 7 + i)
  const dir = await mkdtemp(join(tmpdir(), 'strata-probe-'))
  const mnt = join(dir, 'mnt')
  await mkdir(mnt)
  const lines = [
    '| binding | seq read 1 reader MB/s | 4 readers MB/s aggregate | 4 KiB random read IOPS (O_DIRECT) | uncached stat µs |',
    '|---|---|---|---|---|',
  ]
  try {
    let native: Figures | undefined
    if (process.env.FUSE_NATIVE_DIR) {
      native = await fuseNative(mnt, process.env.FUSE_NATIVE_DIR)
      lines.push(row('fuse-native 2.2.6 + libfuse2', native))
    }
    for (const n of (process.env.FUSE_PROBE_READERS ?? '1,2,4').split(',').map(Number)) {
      lines.push(row(`core/fuse, ${n} reader thread(s)`, await coreFuse(mnt, n), native))
    }
  } finally {
    await run('umount', ['-l', mnt]).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
  console.log(lines.join('\n'))
}

if (process.argv[1]?.endsWith('fuse-probe.js')) await main()
