/**
 * A crash-disk run: for each driver and each sequence, a reference run on an
 * ordinary directory (the state after every operation), a recording on the
 * crash disk, and a check of the image after every flush of the recording.
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSnapshotter } from '../index.js'
import { checkCut } from './check.js'
import { makeBaseImage, recordWorkload } from './disk.js'
import { cuts } from './replay.js'
import { captureState, runOp, setup, setupModel, type OpName, type StoreState } from './workload.js'

export interface CrashRunOptions {
  drivers: string[]
  sequences: OpName[][]
  seed?: number
  /** The busybox OCI layout the 'import' operation reads. */
  busybox?: string
  /** Environment of the workload only (STRATA_FLUSH=off shows the run failing without the flushes). */
  workloadEnv?: NodeJS.ProcessEnv
  /** Stop a driver after this many violations (default 20). */
  maxViolations?: number
  /** Progress lines. */
  log?: (line: string) => void
  /** Cut inside the setup too, in the first sequence (default true; the short form skips it). */
  setupCuts?: boolean
  /** Image size in MiB (default 128). */
  sizeMiB?: number
}

export interface Violation {
  sequence: string
  flush: number
  flushes: number
  acked: number
  inFlight: string
  problems: string[]
}

export interface DriverResult {
  driver: string
  sequences: number
  cuts: number
  violations: Violation[]
  /** Cut points by the operation in flight when the power went ('setup', an op name, or 'idle' after the last). */
  byOp: Record<string, number>
  /** Cut points by where they fall in their recording, in tenths (flush / flushes). */
  deciles: number[]
  ms: number
}

async function referenceStates(driver: string, ops: OpName[], busybox: string | undefined, work: string): Promise<StoreState[]> {
  const root = await mkdtemp(join(work, 'ref-'))
  const sn = await openSnapshotter(driver, root)
  try {
    await setup(sn)
    let m = setupModel()
    const states = [await captureState(sn, m)]
    for (const [n, op] of ops.entries()) {
      m = await runOp(sn, m, op, n + 1, busybox === undefined ? {} : { busybox })
      states.push(await captureState(sn, m))
    }
    return states
  } finally {
    await sn.close()
    await rm(root, { recursive: true, force: true })
  }
}

export async function runCrashDisk(opts: CrashRunOptions): Promise<DriverResult[]> {
  const log = opts.log ?? (() => {})
  const work = await mkdtemp(join(tmpdir(), 'strata-crashdisk-'))
  const results: DriverResult[] = []
  try {
    const base = join(work, 'base.img')
    await makeBaseImage(base, opts.sizeMiB ?? 128)
    const mnt = join(work, 'mnt')
    await mkdir(mnt)
    for (const driver of opts.drivers) {
      const started = Date.now()
      const res: DriverResult = { driver, sequences: 0, cuts: 0, violations: [], byOp: {}, deciles: new Array(10).fill(0), ms: 0 }
      results.push(res)
      for (const [j, ops] of opts.sequences.entries()) {
        if (res.violations.length >= (opts.maxViolations ?? 20)) break
        const name = ops.join(',')
        const states = await referenceStates(driver, ops, opts.busybox, work)
        const spec = opts.busybox === undefined ? { driver, ops } : { driver, ops, busybox: opts.busybox }
        const rec = await recordWorkload(work, base, spec, opts.workloadEnv)
        try {
          if (rec.code !== 0) throw new Error(`workload ${driver} [${name}] failed on the crash disk: ${rec.stderr}`)
          let n = 0
          // The setup's own cuts are checked in the first sequence; later ones start where the sequence does.
          for await (const cut of cuts(
            rec.log,
            base,
            work,
            j === 0 && opts.setupCuts !== false ? { seed: opts.seed ?? 1 } : { seed: opts.seed ?? 1, after: 0 },
          )) {
            const problems = await checkCut(cut.image, cut, { driver, states, mnt })
            const inFlight = cut.acked < 0 ? 'setup' : cut.started > cut.acked ? ops[cut.started - 1] : 'idle'
            res.cuts++
            n++
            res.byOp[inFlight] = (res.byOp[inFlight] ?? 0) + 1
            res.deciles[Math.min(9, Math.floor((10 * (cut.flush - 1)) / cut.flushes))]++
            if (problems.length > 0) {
              // CRASHDISK_KEEP=<dir> keeps the failing images for a look (e2fsck has replayed their journal).
              const keep = process.env.CRASHDISK_KEEP
              if (keep) await copyFile(cut.image, join(keep, `${driver}-${j}-${cut.flush}.img`))
              res.violations.push({ sequence: name, flush: cut.flush, flushes: cut.flushes, acked: cut.acked, inFlight, problems })
              log(
                `VIOLATION ${driver} [${name}] after flush ${cut.flush}/${cut.flushes} (acked ${cut.acked}, in flight ${inFlight}): ${problems.join('; ')}`,
              )
            }
          }
          res.sequences++
          log(`${driver} [${name}]: ${n} cuts`)
        } finally {
          await rm(rec.dir, { recursive: true, force: true })
        }
      }
      res.ms = Date.now() - started
    }
    return results
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

export function summary(results: DriverResult[]): string {
  const lines = ['driver    sequences  cuts  violations  time     cuts by op in flight / by tenth of the recording']
  for (const r of results) {
    const ops = Object.entries(r.byOp)
      .map(([k, v]) => `${k}:${v}`)
      .join(' ')
    lines.push(
      `${r.driver.padEnd(9)} ${String(r.sequences).padStart(9)} ${String(r.cuts).padStart(5)} ${String(r.violations.length).padStart(11)}  ${(r.ms / 1000).toFixed(0).padStart(5)} s  ${ops} / ${r.deciles.join(' ')}`,
    )
  }
  return lines.join('\n')
}
