/**
 * What every scenario gets: the drivers under test, fresh roots in a
 * temporary directory, rounds interleaved across drivers (so the machine's
 * noise falls on all of them alike), progress, and the place results go.
 */
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSnapshotter } from '../core/registry.js'
import type { Snapshotter } from '../core/snapshotter.js'
import { removeTree } from '../core/removetree.js'
import { spread, type Spread } from './stats.js'

export type Unit = 'ms' | 'bytes' | 'MB/s' | 'ratio' | 'count'

/** One measured figure per column (driver or peer). */
export interface Metric {
  scenario: string
  name: string
  unit: Unit
  values: Record<string, Spread | null>
  /** Why a column has no figure, or how to read the row. */
  note?: string
}

export interface BenchOptions {
  drivers: string[]
  full: boolean
  rounds: number
  /** Only scenarios whose id is listed (all when empty). */
  only: string[]
  image?: string
  peer: boolean
  progress: (msg: string) => void
}

export class Bench {
  readonly opts: BenchOptions
  readonly metrics: Metric[] = []
  readonly #roots: string[] = []
  #tmp?: string

  constructor(opts: BenchOptions) {
    this.opts = opts
  }

  get drivers(): string[] {
    return this.opts.drivers
  }

  async tmp(): Promise<string> {
    this.#tmp ??= await mkdtemp(join(tmpdir(), 'strata-bench-'))
    return this.#tmp
  }

  /** A new store for `driver` in the bench's temporary directory. */
  async open(driver: string, label: string): Promise<{ root: string; sn: Snapshotter }> {
    const root = join(await this.tmp(), `${driver}-${label}-${this.#roots.length}`)
    this.#roots.push(root)
    return { root, sn: await openSnapshotter(driver, root) }
  }

  async discard(root: string): Promise<void> {
    await removeTree(root)
  }

  progress(msg: string): void {
    this.opts.progress(msg)
  }

  /** Records a figure; samples per column, or null where it does not apply. */
  record(scenario: string, name: string, unit: Unit, samples: Record<string, number[] | null>, note?: string): Metric {
    const values: Record<string, Spread | null> = {}
    for (const [col, s] of Object.entries(samples)) values[col] = s === null || s.length === 0 ? null : spread(s)
    const m: Metric = { scenario, name, unit, values, note }
    this.metrics.push(m)
    return m
  }

  /** Runs `fn(driver, round)` for each round, every driver once per round, in rotating order. */
  async rounds(rounds: number, fn: (driver: string, round: number) => Promise<void>): Promise<void> {
    for (let r = 0; r < rounds; r++) {
      const order = [...this.drivers.slice(r % this.drivers.length), ...this.drivers.slice(0, r % this.drivers.length)]
      for (const d of order) await fn(d, r)
    }
  }

  async close(): Promise<void> {
    if (this.#tmp) await removeTree(this.#tmp)
  }
}

/** samples[driver] = [] for every driver. */
export function perDriver(drivers: string[]): Record<string, number[]> {
  return Object.fromEntries(drivers.map((d) => [d, [] as number[]]))
}
