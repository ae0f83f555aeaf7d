/**
 * The unix socket a daemon listens on. Whoever reaches it can make the
 * daemon mount file systems as root, so it is created 0600 inside a
 * directory made (0700) if missing. A socket file left by a daemon that was
 * killed is replaced; one that still answers belongs to a live server and is
 * refused with ERR_UNAVAILABLE.
 */
import { connect } from 'node:net'
import { lstat, mkdir, unlink } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { dirname, isAbsolute } from 'node:path'
import { InvalidArgumentError, UnavailableError } from '../core/errors.js'

/** Whether something accepts connections on `path` right now. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path)
    sock.once('connect', () => {
      sock.destroy()
      resolve(true)
    })
    sock.once('error', () => resolve(false))
  })
}

/** Makes `path` ready to bind: its directory exists, no stale socket is in the way. */
export async function prepareSocketPath(path: string): Promise<void> {
  if (typeof path !== 'string' || !isAbsolute(path)) {
    throw new InvalidArgumentError(`the socket must be an absolute path, got ${JSON.stringify(path)}`)
  }
  // sun_path holds 108 bytes including the NUL.
  if (Buffer.byteLength(path) > 107) throw new InvalidArgumentError(`socket path ${path} is longer than 107 bytes`)
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  let st: Stats
  try {
    st = await lstat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!st.isSocket()) throw new InvalidArgumentError(`${path} exists and is not a socket; not replacing it`)
  if (await answers(path)) throw new UnavailableError(`another server is listening on ${path}`)
  await unlink(path)
}
