/** Housekeeping: cleanup and the consistency check. */
import type { Command } from '../command.js'
import type { Checkable, Snapshotter } from '../../core/snapshotter.js'
import { checkImages } from '../../image/remove.js'
import { abandonedWork, reclaimAbandoned } from '../../layers/reclaim.js'
import { reapInterrupted } from '../../runtime/reap.js'

export const cleanup: Command = {
  name: 'cleanup',
  summary: 'free what removed snapshots, crashed operations and killed runs left behind',
  usage: 'cleanup',
  help:
    'A container whose strata run was killed is stopped in its runtime, unmounted, and marked stopped again.\n' +
    'Work-in-progress snapshots (strata-unpack-…, strata-commit-layer-…, strata-init-…) whose process died are removed.',
  args: [0, 0],
  async run(ctx) {
    const sn = await ctx.sn()
    for (const name of await reapInterrupted(sn)) ctx.print(`released container ${name} (its strata run had died)`)
    for (const w of await reclaimAbandoned(sn)) ctx.print(`removed ${w.key} (${w.purpose} work of dead process ${w.pid})`)
    await sn.cleanup()
  },
}

export const check: Command = {
  name: 'check',
  readOnly: true,
  summary: 'report missing or orphaned data, broken images, abandoned work (exit 1 if any)',
  usage: 'check',
  args: [0, 0],
  async run(ctx) {
    const sn = (await ctx.sn()) as Partial<Checkable>
    if (typeof sn.check !== 'function') {
      ctx.print('this driver offers no consistency check')
      return 0
    }
    const report = await sn.check()
    const driverProblems = [...report.problems]
    // Beside the driver's findings: images that lost a layer, and work a dead process left.
    const images = await checkImages(sn as Snapshotter)
    const abandoned = (await abandonedWork(sn as Snapshotter)).map(
      (w) => `${w.key}: ${w.purpose} work of dead process ${w.pid} (strata cleanup removes it)`,
    )
    report.problems.push(...images, ...abandoned)
    if (ctx.json) ctx.printJson(report)
    else {
      for (const p of [...driverProblems, ...images]) ctx.print(`missing: ${p}`)
      for (const p of abandoned) ctx.print(`abandoned: ${p}`)
      for (const id of report.orphans) ctx.print(`orphan: data of id ${id} has no record (strata cleanup removes it)`)
      const bad = [
        report.missing.length + images.length > 0 ? `${report.missing.length + images.length} missing` : '',
        report.orphans.length > 0 ? `${report.orphans.length} orphaned` : '',
        abandoned.length > 0 ? `${abandoned.length} abandoned` : '',
      ].filter(Boolean)
      ctx.print(report.problems.length + report.orphans.length === 0 ? 'ok' : bad.join(', ') || `${driverProblems.length} problems`)
    }
    return report.missing.length + report.orphans.length + images.length + abandoned.length === 0 ? 0 : 1
  },
}

export const maintenanceCommands = [cleanup, check]
