/** `strata bench`: the side-by-side comparison of the registered drivers. */
import type { Command } from '../command.js'
import { registeredDrivers } from '../../core/registry.js'

export const bench: Command = {
  name: 'bench',
  summary: 'compare the drivers side by side for space and speed',
  usage: 'bench [--full]',
  options: { full: { type: 'boolean' } },
  args: [0, 0],
  async run(ctx) {
    const drivers = registeredDrivers()
    if (drivers.length < 2) {
      ctx.print(`no drivers to compare yet (registered: ${drivers.join(', ')})`)
      return 0
    }
    ctx.print(`drivers: ${drivers.join(', ')}`)
  },
}
