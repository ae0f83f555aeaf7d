// @ts-check
/**
 * cpa — an example third-party driver, written the way someone outside the
 * project would write one: plain JavaScript, importing only the public
 * `strata` package. It is the native idea built on GNU cp: `prepare` runs
 * `cp -a --reflink=auto`, which clones files instantly on btrfs and XFS and
 * copies them elsewhere. It uses strata's backend wrapper, so validation,
 * records, errors and crash safety come from strata; the driver only handles
 * data by id.
 *
 * Run the shared suite against it:
 *   strata conformance conformance/examples/cpa
 */
import { execFile } from 'node:child_process'
import { mkdir, readdir, rename, rm, chmod, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { DirFs, diskUsage, openBackedSnapshotter } from 'strata/driver'

const run = promisify(execFile)

/** @implements {import('strata/driver').Backend} */
class CpaBackend {
  /** @param {import('strata/driver').Store} store */
  constructor(store) {
    this.store = store
    this.home = join(store.root, 'cpa')
    /** @type {import('strata').Capabilities} */
    this.capabilities = { kernelMounts: true, renameLowerDirInMount: true }
  }

  /** @param {import('strata/driver').SnapshotRef} ref */
  tree(ref) {
    return ref.kind === 'view' && ref.parentIds.length > 0 ? join(this.home, ref.parentIds[0]) : join(this.home, ref.id)
  }

  /** @param {import('strata/driver').SnapshotRef} ref */
  async create(ref) {
    if (ref.kind === 'view' && ref.parentIds.length > 0) return
    const tmp = await this.store.tmpDir('cpa')
    const work = join(tmp, 'fs')
    if (ref.parentIds.length > 0) {
      await run('cp', ['-a', '--reflink=auto', '--sparse=always', join(this.home, ref.parentIds[0]), work])
    } else {
      await mkdir(work)
      await chmod(work, 0o755)
    }
    await rename(work, join(this.home, ref.id))
    await rm(tmp, { recursive: true, force: true })
  }

  /** @param {import('strata/driver').SnapshotRef} ref */
  async mounts(ref) {
    return [{ type: 'bind', source: this.tree(ref), options: ['rbind', ref.kind === 'active' ? 'rw' : 'ro'] }]
  }

  /** @param {import('strata/driver').SnapshotRef} ref */
  async open(ref) {
    return new DirFs(this.tree(ref), { readOnly: ref.kind !== 'active' })
  }

  /** @param {import('strata/driver').SnapshotRef} ref */
  async usage(ref) {
    return ref.kind === 'view' && ref.parentIds.length > 0 ? { size: 0, inodes: 0 } : diskUsage(this.tree(ref))
  }

  /** @param {import('strata/driver').SnapshotRef} ref */
  async commit(ref) {
    return diskUsage(this.tree(ref))
  }

  /** @param {string} id */
  async drop(id) {
    await rm(join(this.home, id), { recursive: true, force: true })
  }

  async list() {
    return (await readdir(this.home)).filter((n) => /^\d+$/.test(n))
  }

  /** @param {import('strata/driver').SnapshotRef} ref */
  async verify(ref) {
    return (await stat(this.tree(ref)).catch(() => undefined))?.isDirectory() ? undefined : 'tree missing'
  }

  async close() {}
}

/** @param {string} root */
export default async function make(root) {
  return openBackedSnapshotter({
    root,
    driver: 'cpa',
    backend: async (store) => {
      const backend = new CpaBackend(store)
      await mkdir(backend.home, { recursive: true })
      return backend
    },
  })
}
