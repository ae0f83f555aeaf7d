/**
 * The directory a run's bundle lives in: made private under the temp dir,
 * its `rootfs` the container's mount point. `strata run` removes it when the
 * container exits; a later command does, for a run that was killed first.
 */
import { mkdtemp, rm, rmdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { unmountUnder } from '../fs/mount.js'

const PREFIX = 'strata-run-'

export function makeBundleDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), PREFIX))
}

export function rootfsOf(bundle: string): string {
  return join(bundle, 'rootfs')
}

/** A path from a label is only data: only a directory `makeBundleDir` could have made counts. */
export function isBundleDir(path: string): boolean {
  return dirname(path) === tmpdir() && basename(path).startsWith(PREFIX)
}

/** Unmounts the rootfs and removes the bundle; what is already gone is fine. */
export async function removeBundleDir(bundle: string): Promise<void> {
  const rootfs = rootfsOf(bundle)
  await unmountUnder(rootfs)
  // Unmounted already: an empty directory left in the temp dir harms nothing, and the run's result stands.
  await rmdir(rootfs).catch(() => {})
  await rm(join(bundle, 'config.json'), { force: true })
  await rmdir(bundle).catch(() => {})
}
