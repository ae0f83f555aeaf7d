/** Housekeeping: cleanup and the consistency check. */
import type { Command } from '../command.js'
import type { Checkable } from '../../core/snapshotter.js'
import { reapInterrupted } from '../../runtime/reap.js'

export const cleanup: Command = {
  name: 'cleanup',
  summary: 'free what removed snapshots, crashed operations and killed runs left behind',
  usage: 'cleanup',
  help: 'A container whose strata run was killed is stopped in its runtime, unmounted, and marked stopped again.',
  args: [0, 0],
  async run(ctx) {
    const sn = await ctx.sn()
    for (const name of await reapInterrupted(sn)) ctx.print(`released container ${name} (its strata run had died)`)
    await sn.cleanup()
  },
}

export const check: Command = {
  name: 'check',
  summary: 'report records without data and data without records (exit 1 when any)',
  usage: 'check',
  args: [0, 0],
  async run(ctx) {
    const sn = (await ctx.sn()) as Partial<Checkable>
    if (typeof sn.check !== 'function') {
      ctx.print('this driver offers no consistency check')
      return 0
    }
    const report = await sn.check()
    if (ctx.json) ctx.printJson(report)
    else {
      for (const p of report.problems) ctx.print(`missing: ${p}`)
      for (const id of report.orphans) ctx.print(`orphan: data of id ${id} has no record (strata cleanup removes it)`)
      ctx.print(
        report.problems.length + report.orphans.length === 0 ? 'ok' : `${report.missing.length} missing, ${report.orphans.length} orphaned`,
      )
    }
    return report.missing.length + report.orphans.length === 0 ? 0 : 1
  },
}

export const maintenanceCommands = [cleanup, check]
