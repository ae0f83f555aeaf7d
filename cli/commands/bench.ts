/** `strata bench`: the side-by-side comparison of the registered drivers. */
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { registeredDrivers } from '../../core/registry.js'

/** bench/ needs `benchmark`, a dev dependency: load it only for this command, and say so where it is missing. */
async function loadBench(): Promise<typeof import('../../bench/main.js')> {
  try {
    return await import('../../bench/main.js')
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw new UsageError(`strata bench runs from a clone of strata with its dev dependencies (npm ci): ${(err as Error).message}`)
  }
}

export const bench: Command = {
  name: 'bench',
  summary: 'compare the drivers side by side for space and speed (npm start runs this)',
  usage: 'bench [--full] [--only SCENARIO]... [--driver-list a,b] [--rounds N] [--no-peer] [--out DIR]',
  help:
    '--only picks scenarios (an unknown one lists them). --full runs the large sizes (1 GiB parents and files).\n' +
    'Where containerd and ctr are installed, a private containerd runs beside strata as a peer (--no-peer skips it).\n' +
    'Results go to bench/results/ (JSON, Markdown, SVG) unless --out says otherwise.',
  options: {
    full: { type: 'boolean' },
    only: { type: 'string', multiple: true },
    'driver-list': { type: 'string' },
    rounds: { type: 'string' },
    'no-peer': { type: 'boolean' },
    out: { type: 'string' },
  },
  args: [0, 0],
  async run(ctx, _args, opts) {
    const { runBench, SCENARIOS } = await loadBench()
    const drivers = opts['driver-list'] ? String(opts['driver-list']).split(',') : registeredDrivers()
    for (const d of drivers) if (!registeredDrivers().includes(d)) throw new UsageError(`unknown driver ${d}`)
    const only = (opts.only as string[] | undefined) ?? []
    for (const o of only) {
      if (!SCENARIOS.some((s) => s.id === o)) throw new UsageError(`unknown scenario ${o} (${SCENARIOS.map((s) => s.id).join(', ')})`)
    }
    const rounds = opts.rounds === undefined ? undefined : Number(opts.rounds)
    if (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0)) throw new UsageError('--rounds takes a positive number')
    const tty = ctx.showProgress
    await runBench({
      drivers,
      full: Boolean(opts.full),
      only,
      rounds,
      out: opts.out as string | undefined,
      peer: !opts['no-peer'],
      print: (l) => ctx.print(l),
      progress: tty ? (msg) => ctx.err.write(`\r\x1b[2K${msg}`) : undefined,
    })
    if (tty) ctx.err.write('\r\x1b[2K')
  },
}
