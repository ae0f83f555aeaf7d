/**
 * row's kernel mounts: each active or view snapshot that has been asked for
 * its mounts is served over FUSE at `<root>/mnt/<id>`, and `mounts()` hands
 * out a bind of that directory (rw for active, ro for a view), the way
 * containerd's remote snapshotters hand runc a mount of their FUSE server.
 *
 * One FUSE mount per snapshot, shared by every bind of it, made by the first
 * `mounts()` (which `prepare` and `view` call, since they return mounts) and
 * kept until `commit`, `remove` or `close`. A commit first makes sure nothing
 * uses it (no bind of it still mounted, no file still open on it) and fails
 * with ERR_FAILED_PRECONDITION otherwise; remove and close detach it lazily
 * and abort the connection if a hidden user (a container's mount namespace)
 * keeps it past a grace period, so it answers ENOTCONN instead of hanging.
 *
 * The next open clears mounts a killed process left under `<root>/mnt`.
 */
import { mkdir, readFile, readdir, rmdir } from 'node:fs/promises'
import { join, resolve, sep } from 'node:path'
import { FailedPreconditionError } from '../../core/errors.js'
import { FuseServer } from '../../core/fuse/index.js'
import { unescapeMount, unmountFuse } from '../../core/fuse/session.js'
import type { SnapshotFs } from '../../core/snapshotter.js'

/** How long a commit waits for the kernel's RELEASE of files closed just before it. */
const RELEASE_GRACE_MS = 1000

interface MountLine {
  device: string
  point: string
}

async function mountLines(): Promise<MountLine[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')
  return info
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const f = line.split(' ')
      return { device: f[2], point: unescapeMount(f[4]) }
    })
}

export class RowMounts {
  readonly #dir: string
  readonly #statfsPath: string
  readonly #servers = new Map<number, FuseServer>()
  readonly #starting = new Map<number, Promise<string>>()

  constructor(storeRoot: string) {
    this.#dir = resolve(storeRoot, 'mnt')
    this.#statfsPath = storeRoot
  }

  /** Detaches whatever a killed process left mounted under `<root>/mnt`, and empties it. */
  async clearStale(): Promise<void> {
    const base = this.#dir + sep
    const stale = (await mountLines()).filter((m) => m.point.startsWith(base)).map((m) => m.point)
    for (const p of stale.sort((a, b) => b.length - a.length)) await unmountFuse(p, true)
    // rmdir, never a recursive rm: a directory still mounted must fail, not lose its files.
    for (const name of await readdir(this.#dir).catch(() => [])) await rmdir(join(this.#dir, name)).catch(() => {})
  }

  /** The FUSE mount of snapshot `id`, made on first use by serving `open()`'s file system. */
  async ensure(id: number, open: () => Promise<SnapshotFs>): Promise<string> {
    const server = this.#servers.get(id)
    if (server) return server.mountpoint
    let starting = this.#starting.get(id)
    if (!starting) {
      starting = this.#start(id, open).finally(() => this.#starting.delete(id))
      this.#starting.set(id, starting)
    }
    return starting
  }

  async #start(id: number, open: () => Promise<SnapshotFs>): Promise<string> {
    const point = join(this.#dir, String(id))
    await mkdir(point, { recursive: true })
    const fs = await open()
    try {
      const server = await FuseServer.serve(fs, point, { fsName: `strata-row-${id}`, statfsPath: this.#statfsPath })
      this.#servers.set(id, server)
      server.ended.then(() => fs.close()).catch(() => {})
      return point
    } catch (err) {
      await fs.close()
      throw err
    }
  }

  has(id: number): boolean {
    return this.#servers.has(id)
  }

  /**
   * Unmounts snapshot `id` before a commit: refused (nothing changes) while
   * a bind of it is mounted or a file is open on it.
   */
  async release(id: number): Promise<void> {
    const server = this.#servers.get(id)
    if (!server) return
    const users = await this.#bindsOf(server)
    if (users.length > 0) throw new FailedPreconditionError(`its file system is still mounted at ${users.join(', ')}`)
    const deadline = Date.now() + RELEASE_GRACE_MS
    while (server.openFiles > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    if (server.openFiles > 0) throw new FailedPreconditionError(`${server.openFiles} file(s) are still open on its mount`)
    try {
      await server.unmount()
    } catch (err) {
      if ((err as { busy?: boolean }).busy) throw new FailedPreconditionError(`its mount ${server.mountpoint} is busy`, { cause: err })
      throw err
    }
    await this.#forget(id, server)
  }

  /** Unmounts snapshot `id` whatever uses it (remove, close): detached, then aborted if it lingers. */
  async drop(id: number): Promise<void> {
    const server = this.#servers.get(id)
    if (!server) return
    await server.unmount({ lazy: true })
    await this.#forget(id, server)
  }

  async dropAll(): Promise<void> {
    await Promise.all([...this.#starting.values()].map((p) => p.catch(() => {})))
    for (const id of [...this.#servers.keys()]) await this.drop(id)
  }

  async #forget(id: number, server: FuseServer): Promise<void> {
    this.#servers.delete(id)
    await rmdir(server.mountpoint).catch(() => {})
  }

  /** Mount points other than the server's own that show the same FUSE connection. */
  async #bindsOf(server: FuseServer): Promise<string[]> {
    const lines = await mountLines()
    const own = lines.find((m) => m.point === server.mountpoint)
    if (!own) return []
    return lines.filter((m) => m.device === own.device && m.point !== server.mountpoint).map((m) => m.point)
  }
}
