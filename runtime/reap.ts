/**
 * Undoing a run whose `strata run` process died without doing it itself
 * (SIGKILL, a crash): the runtime's container may still run, the bundle's
 * rootfs is still mounted over the container layer, and the labels still
 * say it runs. Docker's daemon does the same for containers it finds at
 * start-up; strata has no daemon, so the next command that needs the
 * container stopped (rm-container, commit-container, cleanup) does it.
 */
import { basename } from 'node:path'
import type { Snapshotter } from '../core/snapshotter.js'
import { isBundleDir, removeBundleDir } from './bundledir.js'
import { clearRunLabels, listContainers, refuseRunning, type Container, type RunState } from './containers.js'
import { RUNTIMES, forceDelete } from './ociruntime.js'

async function undoRun(run: RunState): Promise<void> {
  // `delete --force` stops the container if the runtime still runs it.
  if (RUNTIMES.includes(basename(run.runtime))) await forceDelete(run.runtime, run.id)
  if (isBundleDir(run.bundle)) await removeBundleDir(run.bundle)
}

/** Refuses a running container; undoes an interrupted run; then the container is stopped. */
export async function ensureStopped(sn: Snapshotter, c: Container, what: string): Promise<void> {
  refuseRunning(c, what)
  if (c.interrupted === undefined) return
  await undoRun(c.interrupted)
  await clearRunLabels(sn, c.name)
  delete c.interrupted
}

/** Undoes every interrupted run; returns the containers it released. */
export async function reapInterrupted(sn: Snapshotter): Promise<string[]> {
  const released: string[] = []
  for (const c of await listContainers(sn)) {
    if (c.interrupted === undefined) continue
    await ensureStopped(sn, c, 'release')
    released.push(c.name)
  }
  return released
}
