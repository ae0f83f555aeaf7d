/**
 * The mounts of a snapshot (pure: paths in, Mount[] out), in containerd's
 * shape so a runtime can hand them to mount(2) unchanged:
 *
 * | snapshot                   | mount                                                   |
 * | -------------------------- | ------------------------------------------------------- |
 * | active or view, no parent  | bind of its own diff, `rw`/`ro`, `rbind`                |
 * | view with one parent       | bind of the parent's diff, `ro`, `rbind`                |
 * | active with parents        | overlay: workdir, upperdir, lowerdir (nearest first)    |
 * | view with two or more      | overlay: lowerdir only (read-only by construction)      |
 *
 * Lower layers are named through the `l/<short>` links, as Docker does. The
 * absolute option string of a deep chain is longer than the page mount(2)
 * copies; `fs/mount.ts` (`fitOptions`) rewrites it relative to the overlay
 * home and mounts from there, where each lower costs `l/` + its short name +
 * ':'. At 500 lowers the whole string is 2.5 KB for the first ids and 4 093
 * bytes (of 4 095) for ids just below 36^5 ≈ 60 million; from there on short
 * names have 6 characters and the deepest chains no longer fit
 * (test/overlay.test.ts measures it).
 */
import type { SnapshotRef } from '../../core/backend.js'
import type { Mount } from '../../core/snapshotter.js'
import { MAX_LOWERS } from './features.js'
import type { Layout } from './layout.js'

function lowerdir(layout: Layout, ids: string[]): string {
  return `lowerdir=${ids.map((id) => layout.link(id)).join(':')}`
}

function bind(source: string, writable: boolean): Mount {
  return { type: 'bind', source, options: [writable ? 'rw' : 'ro', 'rbind'] }
}

function overlay(options: string[]): Mount {
  return { type: 'overlay', source: 'overlay', options }
}

/** What `mounts(key)` answers for an active or view snapshot. */
export function snapshotMounts(layout: Layout, ref: SnapshotRef, extra: string[]): Mount[] {
  const { id, parentIds } = ref
  if (parentIds.length === 0) return [bind(layout.diff(id), ref.kind === 'active')]
  if (ref.kind !== 'active') {
    if (parentIds.length === 1) return [bind(layout.diff(parentIds[0]), false)]
    return [overlay([lowerdir(layout, parentIds), ...extra])]
  }
  return [overlay([`workdir=${layout.work(id)}`, `upperdir=${layout.diff(id)}`, lowerdir(layout, parentIds), ...extra])]
}

/** How `open(key)` reaches a snapshot's files: a directory as it is, or an overlay mounted on merged/. */
export type OpenPlan = { kind: 'dir'; dir: string; readOnly: boolean } | { kind: 'mount'; mount: Mount; readOnly: boolean }

export function openPlan(layout: Layout, ref: SnapshotRef, extra: string[]): OpenPlan {
  const { id, parentIds } = ref
  const readOnly = ref.kind !== 'active'
  if (ref.kind !== 'committed') {
    const [m] = snapshotMounts(layout, ref, extra)
    // A bind would only show the same directory again: serve it directly.
    return m.type === 'bind' ? { kind: 'dir', dir: m.source, readOnly } : { kind: 'mount', mount: m, readOnly }
  }
  if (parentIds.length === 0) return { kind: 'dir', dir: layout.diff(id), readOnly }
  if (parentIds.length + 1 <= MAX_LOWERS) {
    // Docker's read-only layer mount: its own diff on top of its lowers, no upper.
    return {
      kind: 'mount',
      mount: overlay([`lowerdir=${[layout.diff(id), ...parentIds.map((p) => layout.link(p))].join(':')}`, ...extra]),
      readOnly,
    }
  }
  // One layer too many for lowers alone: its diff as the upper of a read-only mount.
  return {
    kind: 'mount',
    mount: overlay(['ro', `workdir=${layout.work(id)}`, `upperdir=${layout.diff(id)}`, lowerdir(layout, parentIds), ...extra]),
    readOnly,
  }
}
