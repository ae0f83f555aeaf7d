/**
 * External tools the image tests run (Debian packages umoci, busybox-static,
 * skopeo, attr). Outside CI a missing tool skips the test with the reason;
 * under CI it fails it, so a runner without them cannot pass by skipping.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSnapshotter, registeredDrivers, type Snapshotter } from '../../index.js'
import { hasTool, underCI } from './index.js'

export const run = promisify(execFile)
export { underCI }

/** Why the tests cannot run here (undefined when they can). Throws under CI instead of skipping. */
export async function missingTools(...tools: string[]): Promise<string | undefined> {
  const missing: string[] = []
  for (const t of tools) if (!hasTool(t)) missing.push(t)
  if (missing.length === 0) return undefined
  const reason = `missing ${missing.join(', ')} (apt-get install umoci busybox-static skopeo docker-registry apache2-utils openssl)`
  if (underCI) throw new Error(`${reason}: CI must not skip these tests`)
  return reason
}

/** Every driver the package entry registers: tests loop over this, never over names. */
export function drivers(): string[] {
  return registeredDrivers()
}

export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `strata-${prefix}-`))
}

/** Runs `fn` on a fresh store of `driver` in a temporary root, removed afterwards. */
export async function withTempStore<T>(driver: string, fn: (sn: Snapshotter) => Promise<T>): Promise<T> {
  const root = await tempDir(`store-${driver}`)
  const sn = await openSnapshotter(driver, root)
  try {
    return await fn(sn)
  } finally {
    await sn.close()
    await rm(root, { recursive: true, force: true })
  }
}
