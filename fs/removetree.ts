/** Removing a snapshot's tree: never through a mount left on it, never failing on a missing tree. */
import { rm } from 'node:fs/promises'
import { unmountUnder } from './mount.js'

export async function removeTree(path: string): Promise<void> {
  // rm -r would descend into a mount and delete what the mount shows (a parent's tree).
  await unmountUnder(path)
  await rm(path, { recursive: true, force: true, maxRetries: 3 })
}
