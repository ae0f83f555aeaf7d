/** `strata serve`: the store as containerd's proxy snapshotter, in the foreground until SIGTERM or SIGINT. */
import { resolve } from 'node:path'
import { setHolderInfo } from '../../core/storelock.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import type { LogFormat } from '../../serve/index.js'

export const serve: Command = {
  name: 'serve',
  summary: 'serve the store to containerd as a proxy snapshotter (gRPC on a unix socket)',
  usage: 'serve --socket PATH [--log-format text|json]',
  help: [
    'Runs in the foreground; SIGTERM or SIGINT lets the calls in flight finish, then',
    'closes the store (a second signal stops at once). One log line per failed call',
    'goes to stderr. The socket is made 0600 (its directory too, if missing).',
    '',
    'containerd config.toml (version 2):',
    '  [proxy_plugins.strata]',
    '    type = "snapshot"',
    '    address = "PATH"',
    'then: ctr images pull --snapshotter strata ...; ctr run --snapshotter strata ...',
  ].join('\n'),
  options: { socket: { type: 'string' }, 'log-format': { type: 'string' } },
  args: [0, 0],
  async run(ctx, _args, opts) {
    const socket = opts.socket as string | undefined
    if (!socket) throw new UsageError('--socket PATH is required')
    const format = (opts['log-format'] as string | undefined) ?? 'text'
    if (format !== 'text' && format !== 'json') throw new UsageError(`--log-format is text or json, got ${JSON.stringify(format)}`)
    // gRPC loads only for this command, not for every strata invocation.
    const { createLogger, serveSnapshotter } = await import('../../serve/index.js')
    const log = createLogger({ format: format as LogFormat })
    // The holder record tells a refused command where the store is served; a
    // daemon does not queue behind another holder unless --wait asks it to.
    setHolderInfo({ kind: 'serve', socket: resolve(socket) })
    const sn = await ctx.sn({ waitMs: ctx.waitGiven ? ctx.waitMs : 0 })
    const handle = await serveSnapshotter(sn, { socket, log })
    log.log('info', 'serving', { driver: sn.driver, root: ctx.root, socket, pid: process.pid })
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'))
      process.once('SIGINT', () => resolve('SIGINT'))
    })
    log.log('info', 'stopping', { signal, inFlight: handle.inFlight })
    const again = (): void => void handle.close({ force: true })
    process.once('SIGTERM', again)
    process.once('SIGINT', again)
    await handle.close()
    // The store closes (and the driver takes down its own mounts) in main's finally.
    await ctx.release()
    log.log('info', 'stopped', { signal })
  },
}
