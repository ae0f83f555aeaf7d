/**
 * serve/, the package's `strata/serve`: `serveSnapshotter(sn, { socket })`
 * is containerd's snapshots gRPC service over one strata Snapshotter on a
 * unix socket, so containerd can use any strata store as a proxy snapshotter:
 *
 *   [proxy_plugins.strata]
 *     type = "snapshot"
 *     address = "/run/strata/strata.sock"
 *
 * The handle's `close()` stops taking calls, lets the calls in flight finish
 * and removes the socket; the caller still owns (and closes) the snapshotter.
 * Imports core/ only (and @grpc/grpc-js, @grpc/proto-loader).
 */
import { chmod, unlink } from 'node:fs/promises'
import { Server, ServerCredentials } from '@grpc/grpc-js'
import type { Snapshotter } from '../core/snapshotter.js'
import { silentLogger, type Logger } from './log.js'
import { snapshotsService } from './proto.js'
import { snapshotsImplementation } from './service.js'
import { prepareSocketPath } from './socket.js'

export { createLogger, silentLogger, type Logger, type LogFormat, type LogLevel, type LogFields } from './log.js'
export { SERVICE_NAME, PROTO_DIR } from './proto.js'
export { grpcStatusOf } from './status.js'

export interface ServeOptions {
  /** Absolute path of the unix socket to listen on. */
  socket: string
  /** Where failed calls are reported, one line each (default: nowhere). */
  log?: Logger
}

export interface ServeHandle {
  readonly socket: string
  /** Calls running right now. */
  readonly inFlight: number
  /**
   * Stops serving: the socket goes and no new call is taken at once; the
   * promise settles when the calls already running have finished.
   * `force` cancels the running calls instead of waiting. Twice is fine.
   */
  close(opts?: { force?: boolean }): Promise<void>
}

function bind(server: Server, socket: string): Promise<void> {
  // The socket file is made by bind(2) with the process umask: make it 0600
  // from its first instant, not after a chmod that someone could race.
  const previous = process.umask(0o177)
  return new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => {
      process.umask(previous)
      if (err) reject(err)
      else resolve()
    })
  })
}

export async function serveSnapshotter(sn: Snapshotter, opts: ServeOptions): Promise<ServeHandle> {
  const log = opts.log ?? silentLogger
  await prepareSocketPath(opts.socket)
  const running = new Set<Promise<unknown>>()
  const track = <T>(work: Promise<T>): Promise<T> => {
    running.add(work)
    const settle = (): void => void running.delete(work)
    work.then(settle, settle)
    return work
  }
  // Large List answers and long option strings stay well inside 16 MiB.
  const server = new Server({ 'grpc.max_receive_message_length': 16 << 20, 'grpc.max_send_message_length': 16 << 20 })
  server.addService(snapshotsService(), snapshotsImplementation(sn, { log, track }))
  await bind(server, opts.socket)
  await chmod(opts.socket, 0o600)

  let closing: Promise<void> | undefined
  const shutdown = async (force: boolean): Promise<void> => {
    if (force) server.forceShutdown()
    else await new Promise<void>((resolve) => server.tryShutdown(() => resolve()))
    // A call whose client went away may still be working on the store.
    await Promise.allSettled([...running])
    await unlink(opts.socket).catch(() => {})
  }
  return {
    socket: opts.socket,
    get inFlight() {
      return running.size
    },
    close(closeOpts = {}) {
      if (closeOpts.force) {
        server.forceShutdown()
        closing ??= shutdown(true)
      }
      closing ??= shutdown(false)
      return closing
    },
  }
}
