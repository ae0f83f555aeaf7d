/**
 * What each conformance case gets: a fresh directory (`root/` for the
 * snapshotter, `work/` for scratch), the driver's constructor, and file access
 * to snapshots either through `open()` or through a real kernel mount of
 * `mounts()` — the same case body runs in both passes.
 */
import { mkdtemp, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DirFs } from '../fs/dirfs.js'
import { removeTree } from '../fs/removetree.js'
import type { Capabilities, SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { withMountedFs, withOpen } from '../fs/open.js'

export type Make = (root: string) => Promise<Snapshotter>

/** How a child process builds the same driver (crash and cross-process cases). */
/** A module whose default export is the suite's `make(root)`, for cases that need a second process. */
export interface ChildSpec {
  module: string
}

export interface SuiteOptions {
  /** For a driver that declares no capabilities: are its mounts kernel mounts? */
  kernelMounts?: boolean
  /** Lets cases start the driver in a child process. Without it those cases are skipped. */
  child?: ChildSpec
  /** Crash-group iterations (default: STRATA_CRASH_ITERATIONS or 20). */
  crashIterations?: number | undefined
  /** Extra deep-chain depths to check (for example [500] for drivers that reach it). */
  deepChains?: number[]
}

export type Access = 'open' | 'kernel'

/** Thrown to skip a case; the reason is reported with the case name. */
export class Skip extends Error {
  readonly reason: string
  constructor(reason: string) {
    super(`skipped: ${reason}`)
    this.reason = reason
  }
}

export const isRoot = process.getuid?.() === 0
const underCI = process.env.CI === 'true' || process.env.CI === '1'

export function capabilitiesOf(sn: Snapshotter, opts: SuiteOptions): Capabilities {
  return sn.capabilities ?? { kernelMounts: opts.kernelMounts ?? true, renameLowerDirInMount: true }
}

export class CaseContext {
  readonly dir: string
  readonly root: string
  readonly work: string
  readonly access: Access
  readonly options: SuiteOptions
  readonly #make: Make
  #current?: Snapshotter
  readonly #all: Snapshotter[] = []
  #mounts = 0

  private constructor(dir: string, make: Make, access: Access, options: SuiteOptions) {
    this.dir = dir
    this.root = join(dir, 'root')
    this.work = join(dir, 'work')
    this.#make = make
    this.access = access
    this.options = options
  }

  static async create(make: Make, access: Access, options: SuiteOptions): Promise<CaseContext> {
    const dir = await mkdtemp(join(tmpdir(), 'strata-case-'))
    const t = new CaseContext(dir, make, access, options)
    await mkdir(t.root)
    await mkdir(t.work)
    return t
  }

  /** The case's snapshotter, made on first use. */
  async sn(): Promise<Snapshotter> {
    if (!this.#current) this.#current = await this.make()
    return this.#current
  }

  /** A new instance on the same root (the previous one must be closed first). */
  async make(): Promise<Snapshotter> {
    const sn = await this.#make(this.root)
    this.#all.push(sn)
    return sn
  }

  /** Closes the current instance and opens the root again. */
  async reopen(): Promise<Snapshotter> {
    await this.#current?.close()
    this.#current = await this.make()
    return this.#current
  }

  skip(reason: string): never {
    throw new Skip(reason)
  }

  /** Root is required: skipped on a developer machine, a failure under CI. */
  requireRoot(what: string): void {
    if (isRoot) return
    if (underCI) throw new Error(`${what} needs root, and CI must not skip it`)
    this.skip(`${what} needs root`)
  }

  capabilities(sn: Snapshotter): Capabilities {
    return capabilitiesOf(sn, this.options)
  }

  /** A plain directory as a SnapshotFs, for the flat reference trees. */
  async scratch(name: string): Promise<DirFs> {
    const dir = join(this.work, name)
    await mkdir(dir, { recursive: true })
    return new DirFs(dir)
  }

  /**
   * Runs `fn` with file access to `key`: `open()` in the open pass, a kernel
   * mount of `mounts()` in the kernel pass (or for a driver without `open`).
   */
  async withFs<T>(sn: Snapshotter, key: string, fn: (fs: SnapshotFs) => Promise<T>): Promise<T> {
    if (this.access === 'open' && typeof sn.open === 'function') return withOpen(sn, key, fn)
    this.requireRoot('a kernel mount')
    return withMountedFs(sn, key, join(this.work, `mnt-${++this.#mounts}`), fn)
  }

  async dispose(): Promise<void> {
    for (const sn of this.#all) await sn.close().catch(() => {})
    await removeTree(this.dir)
  }
}
