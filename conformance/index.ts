/**
 * `conformance(name, make, opts)`: registers the whole strata conformance
 * suite as vitest tests. A driver's own conformance test is a few lines:
 *
 *   import { conformance } from 'strata/conformance'
 *   conformance('mydriver', (root) => createMyDriver(root))
 *
 * Each case gets a fresh root; content cases run once through `open()` and
 * once through a kernel mount of `mounts()` (root only). A case is skipped
 * only for what the driver declares it cannot do, with the reason reported.
 * Cases run in a shuffled order.
 */
import { describe, it } from 'vitest'
import type { Make, SuiteOptions } from './context.js'
import { plan, runPlanned, timeoutOf } from './suite.js'

export type { Make, SuiteOptions, ChildSpec } from './context.js'
export { plan, runPlanned, allCases, type PlannedCase, type Outcome } from './suite.js'
export { runSuite, type RunReport } from './runner.js'

export function conformance(name: string, make: Make, opts: SuiteOptions = {}): void {
  // In random order on every run, so no case can lean on another having run first
  // (vitest's --sequence.seed=N replays an order).
  describe.shuffle(`conformance: ${name}`, () => {
    for (const p of plan(opts)) {
      it(
        p.id,
        async (ctx) => {
          const outcome = await runPlanned(make, p, opts)
          if (outcome.status === 'skipped') ctx.skip(outcome.reason)
          if (outcome.status === 'failed') throw outcome.error
        },
        timeoutOf(p, opts),
      )
    }
  })
}
