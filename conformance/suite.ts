/**
 * The whole suite as data: every case, planned once per access pass. Both
 * the vitest adapter (`conformance()`) and the standalone runner (`strata
 * conformance`) run this same plan, so the two can never disagree.
 */
import type { Case } from './case.js'
import { join } from 'node:path'
import type { Capabilities } from '../core/snapshotter.js'
import { CaseContext, Skip, type Access, type Make, type SuiteOptions } from './context.js'
import { containerdCases } from './cases/containerd.js'
import { ruleCases } from './cases/rules.js'
import { lifecycleCases } from './cases/lifecycle.js'
import { crashCases, crashIterations } from './cases/crash.js'
import { deepCases } from './cases/deep.js'
import { xattrCases } from './cases/xattrs.js'

export interface PlannedCase {
  /** Unique, stable name: `<group> › <case>` plus the pass for content cases. */
  id: string
  case: Case
  access: Access
}

export function allCases(opts: SuiteOptions = {}): Case[] {
  return [...containerdCases, ...ruleCases, ...lifecycleCases, ...deepCases(opts.deepChains ?? []), ...xattrCases, ...crashCases]
}

export function plan(opts: SuiteOptions = {}): PlannedCase[] {
  const out: PlannedCase[] = []
  for (const c of allCases(opts)) {
    const base = `${c.group} › ${c.name}`
    if (c.content) {
      out.push({ id: `${base} [open]`, case: c, access: 'open' })
      out.push({ id: `${base} [kernel mount]`, case: c, access: 'kernel' })
    } else {
      out.push({ id: base, case: c, access: 'open' })
    }
  }
  return out
}

export function timeoutOf(p: PlannedCase, opts: SuiteOptions): number {
  if (p.case.group === 'crash') return 60_000 + crashIterations(opts) * 10_000
  return p.case.timeout ?? 60_000
}

export type Outcome = { status: 'passed' } | { status: 'skipped'; reason: string } | { status: 'failed'; error: Error }

const declaredByMake = new WeakMap<Make, Capabilities>()

/**
 * What the driver declares, from a store of its own in the case's scratch
 * space, opened once per driver: the case's own store stays unopened, so
 * cases that start it in a child process still can.
 */
async function declared(make: Make, t: CaseContext): Promise<Capabilities> {
  let caps = declaredByMake.get(make)
  if (caps === undefined) {
    const sn = await make(join(t.work, 'capabilities'))
    caps = t.capabilities(sn)
    await sn.close()
    declaredByMake.set(make, caps)
  }
  return caps
}

/** Runs one planned case in a fresh directory and reports how it went. */
export async function runPlanned(make: Make, p: PlannedCase, opts: SuiteOptions): Promise<Outcome> {
  const t = await CaseContext.create(make, p.access, opts)
  try {
    if (p.access === 'open' && (await declared(make, t)).needsRoot) t.requireRoot('the driver (it declares needsRoot)')
    if (p.access === 'kernel') {
      const sn = await t.sn()
      if (!t.capabilities(sn).kernelMounts) t.skip('the driver declares its mounts are not kernel mounts')
      t.requireRoot('the kernel-mount pass')
    }
    await p.case.run(t)
    return { status: 'passed' }
  } catch (err) {
    if (err instanceof Skip) return { status: 'skipped', reason: err.reason }
    return { status: 'failed', error: err instanceof Error ? err : new Error(String(err)) }
  } finally {
    await t.dispose()
  }
}
