/** Runs the suite outside vitest: one line per case, then `N passed, N failed`. */
import type { Make, SuiteOptions } from './context.js'
import { plan, runPlanned, type Outcome, type PlannedCase } from './suite.js'

export interface RunReport {
  passed: number
  failed: number
  skipped: number
  results: Array<{ id: string; outcome: Outcome; ms: number }>
}

export interface RunOptions extends SuiteOptions {
  /** Only cases whose id contains this text (or matches this RegExp). */
  filter?: string | RegExp | undefined
  onResult?: (id: string, outcome: Outcome, ms: number) => void
}

function selected(p: PlannedCase, filter: RunOptions['filter']): boolean {
  if (filter === undefined) return true
  return typeof filter === 'string' ? p.id.includes(filter) : filter.test(p.id)
}

export async function runSuite(make: Make, opts: RunOptions = {}): Promise<RunReport> {
  const report: RunReport = { passed: 0, failed: 0, skipped: 0, results: [] }
  for (const p of plan(opts)) {
    if (!selected(p, opts.filter)) continue
    const start = Date.now()
    const outcome = await runPlanned(make, p, opts)
    const ms = Date.now() - start
    report[outcome.status]++
    report.results.push({ id: p.id, outcome, ms })
    opts.onResult?.(p.id, outcome, ms)
  }
  return report
}
