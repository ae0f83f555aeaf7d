/**
 * The crash disk's FUSE server, run as its own process:
 *
 *   node server.js <mountpoint> <backing image> <log file>
 *
 * It serves two files: `disk`, the backing image (a loop device goes over
 * it), and `mark`, where the workload writes a line after each acknowledged
 * operation. Every WRITE to `disk`, every FSYNC of it and every line written
 * to `mark` is appended to the log in the order the server answers them
 * (see `log.ts`), which is the order the kernel saw them complete. The
 * server answers a request only after logging it, so a flush the file system
 * waited for is in the log before anything the workload did afterwards.
 *
 * It prints "ready" once mounted and unmounts on SIGTERM.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { LogWriter } from './log.js'

type Cb = (err: number, ...rest: unknown[]) => void
interface FuseInstance {
  mount(cb: (err: Error | null) => void): void
  unmount(cb: (err: Error | null) => void): void
}
type FuseCtor = new (mnt: string, ops: Record<string, unknown>, opts: Record<string, unknown>) => FuseInstance

const require = createRequire(import.meta.url)
const Fuse = require('fuse-native') as FuseCtor & { ENOENT: number; EPERM: number }

const [mnt, backing, logPath] = process.argv.slice(2)
if (!mnt || !backing || !logPath) {
  console.error('usage: server.js <mountpoint> <backing image> <log file>')
  process.exit(2)
}

const diskFd = openSync(backing, 'r+')
const size = fstatSync(diskFd).size
const log = new LogWriter(logPath)
const ENOENT = -2

const now = new Date()
function statOf(mode: number, bytes: number): Record<string, unknown> {
  return { mode, size: bytes, uid: 0, gid: 0, nlink: 1, mtime: now, atime: now, ctime: now, blksize: 4096, blocks: Math.ceil(bytes / 512) }
}

const ops = {
  readdir(path: string, cb: Cb) {
    if (path === '/') return cb(0, ['disk', 'mark'])
    cb(ENOENT)
  },
  getattr(path: string, cb: Cb) {
    if (path === '/') return cb(0, statOf(0o40755, 4096))
    if (path === '/disk') return cb(0, statOf(0o100600, size))
    if (path === '/mark') return cb(0, statOf(0o100600, 0))
    cb(ENOENT)
  },
  open(path: string, _flags: number, cb: Cb) {
    if (path === '/disk') return cb(0, 1)
    if (path === '/mark') return cb(0, 2)
    cb(ENOENT)
  },
  release(_path: string, _fd: number, cb: Cb) {
    cb(0)
  },
  truncate(_path: string, _len: number, cb: Cb) {
    cb(0)
  },
  ftruncate(_path: string, _fd: number, _len: number, cb: Cb) {
    cb(0)
  },
  read(path: string, _fd: number, buf: Buffer, len: number, pos: number, cb: Cb) {
    // read and write answer with the byte count in the error slot (fuse-native's convention).
    if (path !== '/disk') return cb(0)
    cb(readSync(diskFd, buf, 0, len, pos))
  },
  write(path: string, _fd: number, buf: Buffer, len: number, pos: number, cb: Cb) {
    if (path === '/mark') {
      log.mark(buf.subarray(0, len).toString('utf8'))
      return cb(len)
    }
    if (path !== '/disk') return cb(ENOENT)
    writeSync(diskFd, buf, 0, len, pos)
    log.write(pos, buf.subarray(0, len))
    cb(len)
  },
  fsync(path: string, _datasync: boolean, _fd: number, cb: Cb) {
    // The image's own durability on the host does not matter: the log is the disk.
    if (path === '/disk') log.flush()
    cb(0)
  },
  flush(_path: string, _fd: number, cb: Cb) {
    cb(0)
  },
}

// big_writes rides in fsname (libfuse 2 parses the comma list): without it writes come in 4 KiB pieces.
const fuse = new Fuse(mnt, ops, { force: true, mkdir: true, timeout: false, fsname: 'strata-crashdisk,big_writes' })
fuse.mount((err) => {
  if (err) {
    console.error(`mount ${mnt}: ${err.message}`)
    process.exit(1)
  }
  console.log('ready')
})

function stop(): void {
  fuse.unmount(() => {
    log.close()
    closeSync(diskFd)
    process.exit(0)
  })
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
