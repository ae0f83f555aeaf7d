/**
 * The crash disk's long form, one command (root, Linux, e2fsprogs, libfuse2):
 *
 *   npm run crashdisk                      every sequence of up to 3 operations, every driver
 *   npm run crashdisk -- --drivers row --max-ops 2 --seed 7
 *   npm run crashdisk -- --no-flush        the same with STRATA_FLUSH=off: it must find violations
 *
 * Prints one line per sequence, every violation, and a summary; exits 1 on
 * any violation (0 with --no-flush only if it found some).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { registeredDrivers } from '../index.js'
import { buildBusyboxImage } from './busybox.js'
import { runCrashDisk, summary } from './run.js'
import { plan } from './workload.js'

const { values } = parseArgs({
  options: {
    drivers: { type: 'string' },
    'max-ops': { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    'no-flush': { type: 'boolean', default: false },
    'max-violations': { type: 'string', default: '20' },
  },
})

const drivers = values.drivers ? values.drivers.split(',') : registeredDrivers()
const sequences = plan(Number(values['max-ops']))
const scratch = await mkdtemp(join(tmpdir(), 'strata-crashdisk-image-'))
try {
  const busybox = await buildBusyboxImage(scratch)
  console.log(
    `crash disk: ${sequences.length} sequences of up to ${values['max-ops']} operations × ${drivers.join(', ')}${values['no-flush'] ? ' (STRATA_FLUSH=off)' : ''}`,
  )
  const results = await runCrashDisk({
    drivers,
    sequences,
    busybox,
    seed: Number(values.seed),
    maxViolations: Number(values['max-violations']),
    workloadEnv: values['no-flush'] ? { STRATA_FLUSH: 'off' } : {},
    log: (line) => console.log(line),
  })
  console.log(summary(results))
  const found = results.reduce((n, r) => n + r.violations.length, 0)
  process.exitCode = values['no-flush'] ? (found > 0 ? 0 : 1) : found > 0 ? 1 : 0
} finally {
  await rm(scratch, { recursive: true, force: true })
}
