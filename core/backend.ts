/**
 * What a driver supplies: data handling by id. Core (`core/backed.ts`)
 * implements the snapshotter semantics once — key space, kinds, parents,
 * labels, timestamps, filters, validation, errors, the closed state — and
 * calls these hooks with opaque ids and ordered parent ids only.
 *
 * The crash-safety protocol every hook follows: core reserves the id first
 * (so it is never handed out twice), the driver builds data where nobody looks
 * and may add keys to the record's batch, core writes the batch (the snapshot
 * now exists), and data no record points to is removed by `cleanup()`.
 */
import type { Capabilities, Change, Kind, Mount, SnapshotFs, Usage } from './snapshotter.js'
import type { Store, Transaction } from './store.js'

export interface SnapshotRef {
  /** Decimal id, unique for the life of the store. */
  id: string
  kind: Kind
  /** Ancestor ids, nearest first (the parent is parentIds[0]). */
  parentIds: string[]
}

export interface Backend {
  readonly capabilities: Capabilities

  /**
   * Makes the data of a new active or view snapshot. It must stay invisible
   * (tmp/, or keys added to `tx`) or be harmless if no record ever points to
   * it: if core's batch fails or the process dies, `drop(id)` frees it.
   */
  create(ref: SnapshotRef, tx: Transaction): Promise<void>

  mounts(ref: SnapshotRef): Promise<Mount[]>

  /** File access; read-only unless `ref.kind` is 'active'. */
  open(ref: SnapshotRef): Promise<SnapshotFs>

  /** What the snapshot alone holds beyond its parent. */
  usage(ref: SnapshotRef): Promise<Usage>

  /**
   * Freezes an active snapshot (the kind in `ref` is still 'active') and
   * returns its usage, stored with the record. May add keys to `tx`. Called
   * after every SnapshotFs of this snapshot has been closed.
   */
  commit(ref: SnapshotRef, tx: Transaction): Promise<Usage>

  /** Called in the batch that deletes the record; may add keys to `tx`. */
  remove?(ref: SnapshotRef, tx: Transaction): Promise<void>

  /**
   * The snapshot's changes against its parent, cheaper than comparing the two
   * trees (overlay reads its diff/, row walks its tree against the parent's).
   */
  changes?(ref: SnapshotRef): AsyncIterable<Change>

  /** Frees the data of an id no record points to any more. Must be idempotent. */
  drop(id: string): Promise<void>

  /** Ids that have data (for orphan detection). */
  list(): Promise<string[]>

  /** Driver-specific leftovers: resumable garbage collection, dangling links. */
  cleanup?(live: ReadonlySet<string>): Promise<void>

  /** Why this snapshot's data is missing or broken, or undefined when it is whole. */
  verify?(ref: SnapshotRef): Promise<string | undefined>

  close(): Promise<void>
}

export type BackendFactory = (store: Store) => Promise<Backend>
