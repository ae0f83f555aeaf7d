/** Housekeeping: cleanup and the consistency check. */
import type { Command } from '../command.js'
import type { Checkable } from '../../core/snapshotter.js'

export const cleanup: Command = {
  name: 'cleanup',
  summary: 'free what removed snapshots and crashed operations left behind',
  usage: 'cleanup',
  args: [0, 0],
  async run(ctx) {
    await (await ctx.sn()).cleanup()
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
      ctx.print(report.problems.length + report.orphans.length === 0 ? 'ok' : `${report.missing.length} missing, ${report.orphans.length} orphaned`)
    }
    return report.missing.length + report.orphans.length === 0 ? 0 : 1
  },
}

export const maintenanceCommands = [cleanup, check]
