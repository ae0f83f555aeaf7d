/**
 * The snapshotter semantics, written once for every driver: it validates each
 * call, owns the records in the metastore, serialises mutations, and calls the
 * driver's backend with ids only (STYLE.md 3–5).
 */
import type { Backend, BackendFactory, SnapshotRef } from './backend.js'
import {
  AlreadyExistsError,
  cleanupAfter,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from './errors.js'
import { matches, parseFilters } from './filters.js'
import { Metastore, toInfo, type SnapshotRecord } from './metastore.js'
import { Mutex } from './mutex.js'
import type {
  Capabilities,
  Change,
  CheckReport,
  Checkable,
  Info,
  Kind,
  Mount,
  SnapshotFs,
  SnapshotOptions,
  Snapshotter,
  Usage,
} from './snapshotter.js'
import { Store, type StoreOptions, type Sublevel } from './store.js'
import { checkKey, checkLabels, checkOptionalParent, checkOptions } from './validate.js'

export interface OpenOptions {
  root: string
  /** The driver's registered name; a root belongs to one driver for its life. */
  driver: string
  backend: BackendFactory
  /** LevelDB tuning for this store (see StoreOptions). */
  store?: StoreOptions
}

/** Opens a store at `root` and wraps the driver's backend in the shared semantics. */
export async function openBackedSnapshotter(opts: OpenOptions): Promise<BackedSnapshotter> {
  const store = await Store.open(opts.root, opts.store)
  try {
    const meta = new Metastore(store)
    const owner = await meta.getMeta<string>('driver')
    if (owner !== undefined && owner !== opts.driver) {
      throw new InvalidArgumentError(`store ${opts.root} belongs to driver ${owner}, not ${opts.driver}`)
    }
    if (owner === undefined) {
      const tx = store.transaction()
      meta.setMeta(tx, 'driver', opts.driver)
      await tx.write({ sync: true })
    }
    const backend = await opts.backend(store)
    const sn = new BackedSnapshotter(opts.driver, store, meta, backend)
    await sn.cleanup()
    return sn
  } catch (err) {
    throw await cleanupAfter(err, () => store.close())
  }
}

function refOf(rec: SnapshotRecord): SnapshotRef {
  return { id: String(rec.id), kind: rec.kind, parentIds: rec.parentIds.map(String) }
}

const q = JSON.stringify

/** A label change per containerd: no fieldpaths or `labels` replace, `labels.K` sets or deletes K. */
function applyLabelUpdate(
  current: Record<string, string>,
  input: Record<string, string>,
  fieldpaths: string[],
  name: string,
): Record<string, string> {
  if (fieldpaths.length === 0) return { ...input }
  let labels = { ...current }
  for (const path of fieldpaths) {
    if (path === 'labels') {
      labels = { ...input }
    } else if (typeof path === 'string' && path.startsWith('labels.') && path.length > 'labels.'.length) {
      const k = path.slice('labels.'.length)
      if (Object.hasOwn(input, k)) labels[k] = input[k]
      else delete labels[k]
    } else {
      throw new InvalidArgumentError(`cannot update field ${q(path)} of ${q(name)}: only labels and labels.<key> can change`)
    }
  }
  return labels
}

function infoField(info: Info, path: string[]): string | undefined {
  if (path.length === 1) {
    switch (path[0]) {
      case 'name':
        return info.name
      case 'kind':
        return info.kind
      case 'parent':
        return info.parent ?? ''
    }
    return undefined
  }
  if (path.length === 2 && path[0] === 'labels') {
    return Object.hasOwn(info.labels, path[1]) ? info.labels[path[1]] : undefined
  }
  return undefined
}

/**
 * A named sublevel of the store's LevelDB that a package above core keeps
 * beside the snapshot records (image/ keeps its images here), so core needs
 * to know nothing of what is kept in it.
 */
export interface Extension<V> {
  readonly db: Sublevel<string, V>
  /** Throws ERR_UNAVAILABLE once the snapshotter is closed. */
  alive(): void
}

/** Sublevels core itself uses; an extension may not take them. */
const CORE_SUBLEVELS = new Set(['snapshots', 'ids', 'children', 'meta'])

/** The extension store of a snapshotter built on this wrapper; undefined for any other Snapshotter. */
export function extensionOf<V>(sn: Snapshotter, name: string): Extension<V> | undefined {
  const own = (sn as Partial<Pick<BackedSnapshotter, 'extension'>>).extension
  return typeof own === 'function' ? (own.call(sn, name) as Extension<V>) : undefined
}

export class BackedSnapshotter implements Snapshotter, Checkable {
  readonly driver: string
  readonly capabilities: Capabilities
  readonly #store: Store
  readonly #meta: Metastore
  readonly #backend: Backend
  readonly #mutex = new Mutex()
  readonly #openFs = new Map<number, Set<SnapshotFs>>()
  #closed = false

  constructor(driver: string, store: Store, meta: Metastore, backend: Backend) {
    this.driver = driver
    this.#store = store
    this.#meta = meta
    this.#backend = backend
    this.capabilities = backend.capabilities
  }

  /** The root directory this store owns. */
  get root(): string {
    return this.#store.root
  }

  /** A sublevel of this store's LevelDB for a package above core (see Extension). */
  extension<V>(name: string): Extension<V> {
    if (CORE_SUBLEVELS.has(name)) throw new InvalidArgumentError(`extension name ${q(name)} is core's own`)
    return { db: this.#store.sublevel<V>(name), alive: () => this.#alive() }
  }

  #alive(): void {
    if (this.#closed) throw new UnavailableError(`snapshotter ${this.driver} at ${this.#store.root} is closed`)
  }

  /** Runs a mutation alone, re-checking the closed state once it holds the lock. */
  #mutate<T>(fn: () => Promise<T>): Promise<T> {
    this.#alive()
    return this.#mutex.run(async () => {
      this.#alive()
      return fn()
    })
  }

  #now(after?: number): number {
    const now = Date.now()
    return after !== undefined && now <= after ? after + 1 : now
  }

  async stat(key: string): Promise<Info> {
    this.#alive()
    checkKey(key)
    return toInfo(key, await this.#meta.mustGet(key))
  }

  async update(info: { name: string; labels?: Record<string, string> }, fieldpaths: string[] = []): Promise<Info> {
    this.#alive()
    if (typeof info !== 'object' || info === null) throw new InvalidArgumentError('update needs an info object')
    const name = checkKey(info.name, 'name')
    if (!Array.isArray(fieldpaths)) throw new InvalidArgumentError(`fieldpaths of ${q(name)} must be an array`)
    const input = checkLabels(info.labels ?? {}, name)
    // Validate the paths before touching anything, even for a missing key.
    applyLabelUpdate({}, input, fieldpaths, name)
    return this.#mutate(async () => {
      const rec = await this.#meta.mustGet(name)
      const next: SnapshotRecord = {
        ...rec,
        labels: applyLabelUpdate(rec.labels, input, fieldpaths, name),
        updated: this.#now(rec.updated),
      }
      const tx = this.#store.transaction()
      this.#meta.replace(tx, name, next)
      await tx.write({ sync: true })
      return toInfo(name, next)
    })
  }

  async usage(key: string): Promise<Usage> {
    this.#alive()
    checkKey(key)
    const rec = await this.#meta.mustGet(key)
    if (rec.kind === 'committed') return { ...(rec.usage ?? { size: 0, inodes: 0 }) }
    return this.#backend.usage(refOf(rec))
  }

  async mounts(key: string): Promise<Mount[]> {
    this.#alive()
    checkKey(key)
    const rec = await this.#meta.mustGet(key)
    if (rec.kind === 'committed') {
      throw new FailedPreconditionError(`snapshot ${q(key)} is committed: only active and view snapshots have mounts`)
    }
    return this.#backend.mounts(refOf(rec))
  }

  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.#create('active', key, parent, opts)
  }

  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.#create('view', key, parent, opts)
  }

  async #create(kind: Kind, key: string, parentArg: string | undefined, opts: SnapshotOptions | undefined): Promise<Mount[]> {
    this.#alive()
    checkKey(key)
    const parent = checkOptionalParent(parentArg)
    const labels = checkOptions(opts, key)
    return this.#mutate(async () => {
      const parentIds = await this.#parentChain(key, parent)
      if (await this.#meta.get(key)) throw new AlreadyExistsError(`snapshot ${q(key)} already exists`)
      const id = await this.#meta.reserveId()
      const now = this.#now()
      const rec: SnapshotRecord = { id, kind, parentIds, labels, created: now, updated: now }
      if (parent !== undefined) rec.parent = parent
      const ref = refOf(rec)
      const tx = this.#store.transaction()
      try {
        await this.#backend.create(ref, tx)
        this.#meta.insert(tx, key, rec)
        await tx.write({ sync: true })
      } catch (err) {
        throw await cleanupAfter(err, () => this.#backend.drop(ref.id))
      }
      return this.#backend.mounts(ref)
    })
  }

  async #parentChain(key: string, parent: string | undefined): Promise<number[]> {
    if (parent === undefined) return []
    const prec = await this.#meta.get(parent)
    if (!prec) throw new NotFoundError(`parent ${q(parent)} of ${q(key)} does not exist`)
    if (prec.kind !== 'committed') {
      throw new InvalidArgumentError(`parent ${q(parent)} of ${q(key)} is ${prec.kind}, not a committed snapshot`)
    }
    const chain = [prec.id, ...prec.parentIds]
    const max = this.capabilities.maxDepth
    if (max !== undefined && chain.length > max) {
      throw new FailedPreconditionError(
        `cannot create ${q(key)}: a chain of ${chain.length} parents exceeds ${this.driver}'s limit of ${max}`,
      )
    }
    return chain
  }

  async commit(name: string, key: string, opts?: SnapshotOptions): Promise<void> {
    this.#alive()
    checkKey(name, 'name')
    checkKey(key)
    const labels = checkOptions(opts, name)
    return this.#mutate(async () => {
      if (await this.#meta.get(name)) throw new AlreadyExistsError(`cannot commit ${q(key)} as ${q(name)}: ${q(name)} already exists`)
      const rec = await this.#meta.mustGet(key)
      if (rec.kind !== 'active') {
        throw new FailedPreconditionError(
          `cannot commit ${q(key)}: it is ${rec.kind === 'view' ? 'a view' : 'already committed'}, not active`,
        )
      }
      await this.#revoke(rec.id)
      const tx = this.#store.transaction()
      let usage: Usage
      try {
        usage = await this.#backend.commit(refOf(rec), tx)
      } catch (err) {
        // A driver refuses a commit of a snapshot still in use; the message names the key.
        if (err instanceof FailedPreconditionError)
          throw new FailedPreconditionError(`cannot commit ${q(key)}: ${err.message}`, { cause: err })
        throw err
      }
      const now = this.#now()
      const next: SnapshotRecord = { ...rec, kind: 'committed', labels, created: now, updated: now, usage }
      this.#meta.rename(tx, key, name, next)
      await tx.write({ sync: true })
    })
  }

  async remove(key: string): Promise<void> {
    this.#alive()
    checkKey(key)
    return this.#mutate(async () => {
      const rec = await this.#meta.mustGet(key)
      if (await this.#meta.hasChildren(rec.id)) {
        throw new FailedPreconditionError(`cannot remove snapshot ${q(key)}: it has children (remove them first)`)
      }
      await this.#revoke(rec.id)
      const ref = refOf(rec)
      const tx = this.#store.transaction()
      await this.#backend.remove?.(ref, tx)
      this.#meta.delete(tx, key, rec)
      await tx.write({ sync: true })
      // The key is gone, so remove has succeeded: data a failed drop leaves behind is an
      // orphan the next cleanup() frees, and the caller has nothing to act on.
      await this.#backend.drop(ref.id).catch(() => {})
    })
  }

  walk(filters?: string[]): AsyncIterable<Info> {
    return this.#walk(filters)
  }

  async *#walk(filters: string[] | undefined): AsyncGenerator<Info> {
    this.#alive()
    const filter = parseFilters(filters)
    for await (const [key, rec] of this.#meta.entries()) {
      this.#alive()
      const info = toInfo(key, rec)
      if (matches(filter, info, infoField)) yield info
    }
  }

  /** The driver's O(changes) listing, when it has one (see ChangeLister). */
  get changes(): ((key: string) => AsyncIterable<Change>) | undefined {
    const backend = this.#backend
    if (!backend.changes) return undefined
    const self = this
    return async function* (key: string) {
      self.#alive()
      checkKey(key)
      const rec = await self.#meta.mustGet(key)
      if (rec.kind === 'view') throw new FailedPreconditionError(`snapshot ${q(key)} is a view: it has no changes`)
      yield* backend.changes!(refOf(rec))
    }
  }

  async open(key: string): Promise<SnapshotFs> {
    this.#alive()
    checkKey(key)
    // Under the lock: a commit or remove running meanwhile must either see
    // this handle (and revoke it) or run after it is tracked, never between.
    return this.#mutate(async () => {
      const rec = await this.#meta.mustGet(key)
      const fs = await this.#backend.open(refOf(rec))
      return this.#track(rec.id, fs)
    })
  }

  /** Registers a handle so commit and remove can close it first; its close() unregisters it. */
  #track(id: number, fs: SnapshotFs): SnapshotFs {
    let set = this.#openFs.get(id)
    if (!set) {
      set = new Set()
      this.#openFs.set(id, set)
    }
    set.add(fs)
    const close = fs.close.bind(fs)
    fs.close = async () => {
      set.delete(fs)
      if (set.size === 0 && this.#openFs.get(id) === set) this.#openFs.delete(id)
      await close()
    }
    return fs
  }

  async #revoke(id: number): Promise<void> {
    for (const fs of [...(this.#openFs.get(id) ?? [])]) await fs.close()
  }

  async cleanup(): Promise<void> {
    return this.#mutate(async () => {
      await this.#store.clearTmp()
      const live = new Set([...(await this.#meta.idMap()).keys()].map(String))
      for (const id of await this.#backend.list()) {
        if (!live.has(id)) await this.#backend.drop(id)
      }
      await this.#backend.cleanup?.(live)
    })
  }

  async check(): Promise<CheckReport> {
    this.#alive()
    const report: CheckReport = { orphans: [], missing: [], problems: [] }
    const live = new Set<string>()
    for await (const [key, rec] of this.#meta.entries()) {
      live.add(String(rec.id))
      const problem = await this.#backend.verify?.(refOf(rec))
      if (problem !== undefined) {
        report.missing.push(key)
        report.problems.push(`${q(key)} (id ${rec.id}): ${problem}`)
      }
    }
    for (const id of await this.#backend.list()) if (!live.has(id)) report.orphans.push(id)
    return report
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#mutex.run(async () => {
      for (const id of [...this.#openFs.keys()]) await this.#revoke(id)
      try {
        await this.#backend.close()
      } finally {
        await this.#store.close()
      }
    })
  }
}
