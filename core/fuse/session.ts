/**
 * One FUSE connection: /dev/fuse opened, mounted with mount(8) (`-i`, so no
 * helper and no libfuse), requests read by worker threads and replies
 * written by the caller, each as one write(2).
 *
 * Reading /dev/fuse blocks until the kernel has a request, so the reads run
 * on worker threads of their own, never on libuv's pool, which LevelDB's
 * calls (and every fs call of this process, perhaps into this very mount)
 * need. Each reader copies the request out and posts it to the main thread;
 * several readers read the same fd, as libfuse's multi-threaded loop does.
 *
 * The kernel aborts the connection when the last fd of /dev/fuse closes, so
 * a server that dies leaves a mount that answers ENOTCONN ("transport
 * endpoint is not connected") and that `umount -l` clears; it never hangs.
 * A live process that exits with a session still open aborts it first (see
 * `abortAllOnExit`), since a reader blocked in read(2) would otherwise keep
 * the process from exiting.
 */
import { execFile, spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync, writeSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { resolve as resolvePath } from 'node:path'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'

const run = promisify(execFile)

/** The reader thread: plain JavaScript, inline, so it loads the same from sources and from dist/. */
const READER = `
const { workerData, parentPort } = require('node:worker_threads')
const { readSync } = require('node:fs')
const buf = Buffer.allocUnsafe(workerData.bufSize)
for (;;) {
  let n
  try {
    n = readSync(workerData.fd, buf, 0, buf.length, null)
  } catch (err) {
    // ENOENT: the request was interrupted before we read it; EINTR, EAGAIN: try again.
    if (err.code === 'ENOENT' || err.code === 'EINTR' || err.code === 'EAGAIN') continue
    // ENODEV: unmounted; ECONNABORTED: aborted. Either way the connection is over.
    parentPort.postMessage({ end: err.code })
    break
  }
  const out = new Uint8Array(n)
  out.set(buf.subarray(0, n))
  parentPort.postMessage(out, [out.buffer])
}
`

export interface SessionOptions {
  /** Shown as the source in /proc/mounts (default "strata"). */
  fsName?: string | undefined
  /** Mounted read-only: the kernel itself answers EROFS to writes. */
  readOnly?: boolean | undefined
  /** Reader threads (default 2). */
  readers?: number | undefined
  /** Largest WRITE the kernel may send (default 1 MiB); the read buffer is this plus a page. */
  maxWrite?: number | undefined
}

const live = new Set<Session>()
let exitHooked = false

/** Aborts every session still open when the process exits, so no reader thread blocks the exit. */
function abortAllOnExit(): void {
  if (exitHooked) return
  exitHooked = true
  process.on('exit', () => {
    for (const s of live) s.abortSync()
  })
}

export class Session {
  readonly mountpoint: string
  readonly maxWrite: number
  readonly #fd: number
  readonly #workers: Worker[] = []
  #device: number | undefined
  #ended = 0
  #endedAll!: () => void
  readonly ended: Promise<void>
  #closed = false

  private constructor(mountpoint: string, fd: number, maxWrite: number) {
    this.mountpoint = mountpoint
    this.#fd = fd
    this.maxWrite = maxWrite
    this.ended = new Promise((resolve) => (this.#endedAll = resolve))
  }

  /**
   * Opens /dev/fuse, mounts it on `mountpoint` and starts the readers; each
   * request (INIT first) goes to `onRequest`.
   */
  static async mount(mountpoint: string, onRequest: (buf: Buffer) => void, opts: SessionOptions = {}): Promise<Session> {
    const maxWrite = opts.maxWrite ?? 1 << 20
    const fd = openSync('/dev/fuse', 'r+')
    const s = new Session(mountpoint, fd, maxWrite)
    try {
      await mountFd(fd, mountpoint, opts)
    } catch (err) {
      closeSync(fd)
      throw err
    }
    // The connection's number, for /sys/fs/fuse/connections/N/abort. Never stat the
    // mount point for it: that waits for this very server, which is not reading yet.
    s.#device = await connectionOf(mountpoint)
    live.add(s)
    abortAllOnExit()
    const readers = Math.max(1, opts.readers ?? 2)
    for (let i = 0; i < readers; i++) {
      const w = new Worker(READER, { eval: true, workerData: { fd, bufSize: maxWrite + 4096 } })
      w.unref()
      w.on('message', (m: Uint8Array | { end: string }) => {
        if (m instanceof Uint8Array) onRequest(Buffer.from(m.buffer, m.byteOffset, m.byteLength))
        else s.#readerEnded()
      })
      w.on('error', () => s.#readerEnded())
      s.#workers.push(w)
    }
    return s
  }

  /** The connection's number (the minor of the mount's device), set once mounted. */
  get device(): number | undefined {
    return this.#device
  }

  #readerEnded(): void {
    if (++this.#ended < this.#workers.length) return
    this.#close()
    this.#endedAll()
  }

  #close(): void {
    if (this.#closed) return
    this.#closed = true
    live.delete(this)
    try {
      closeSync(this.#fd)
    } catch {
      // already closed
    }
  }

  /** Sends one reply; a reply to a request the kernel gave up on (ENOENT) is dropped. */
  reply(buf: Buffer): void {
    if (this.#closed) return
    try {
      writeSync(this.#fd, buf, 0, buf.length)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'ENODEV' && code !== 'ECONNABORTED' && code !== 'EBADF') throw err
    }
  }

  /** Tells the kernel to fail every pending and future request (ENOTCONN): the last resort. */
  abortSync(): void {
    if (this.#device === undefined) return
    // The control file system may not be mounted yet; mounting it never touches a FUSE mount.
    if (!existsSync('/sys/fs/fuse/connections/0') && !existsSync(`/sys/fs/fuse/connections/${this.#device}`)) {
      spawnSync('mount', ['-t', 'fusectl', 'fusectl', '/sys/fs/fuse/connections'], { stdio: 'ignore' })
    }
    try {
      writeFileSync(`/sys/fs/fuse/connections/${this.#device}/abort`, '1')
    } catch {
      // gone already
    }
  }
}

function mountFd(fd: number, mountpoint: string, opts: SessionOptions): Promise<void> {
  const options = ['fd=3', 'rootmode=40000', 'user_id=0', 'group_id=0', 'allow_other', 'default_permissions', opts.readOnly ? 'ro' : 'rw']
  // mount(8) gets the /dev/fuse fd as its fd 3, with -i so it calls mount(2) itself.
  const child = spawn('mount', ['-i', '-t', 'fuse.strata', '-o', options.join(','), opts.fsName ?? 'strata', mountpoint], {
    stdio: ['ignore', 'ignore', 'pipe', fd],
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve()
      else reject(new Error(`mount of FUSE on ${mountpoint} failed: ${stderr.trim() || `exit ${code}`}`))
    })
  })
}

/** Unmounts a FUSE mount by path: `umount`, or detached with `umount -l` when `lazy`. */
export async function unmountFuse(mountpoint: string, lazy = false): Promise<void> {
  try {
    await run('umount', lazy ? ['-l', mountpoint] : [mountpoint])
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message)
    if (/not mounted|no mount point|not found/i.test(stderr)) return
    throw Object.assign(new Error(`umount ${mountpoint} failed: ${stderr.trim()}`), { busy: /busy/i.test(stderr) })
  }
}

/** The FUSE connection number of the mount at `mountpoint` (the minor of its device), from mountinfo. */
async function connectionOf(mountpoint: string): Promise<number | undefined> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')
  const want = resolvePath(mountpoint)
  let found: number | undefined
  for (const line of info.split('\n')) {
    const f = line.split(' ')
    if (f.length < 5 || unescapeMount(f[4]) !== want) continue
    const [major, minor] = f[2].split(':').map(Number)
    if (major === 0) found = minor
  }
  return found
}

export function unescapeMount(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}
