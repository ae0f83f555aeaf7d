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
import { removeTree } from '../fs/removetree.js'
import { spread, type Spread } from './stats.js'
import { isPeer, openPeer, PEERS, peerAvailable } from './peer/containerd.js'

export type Unit = 'ms' | 'bytes' | 'MB/s' | 'ratio' | 'count'

/** One measured figure per column (driver or peer). */
export interface Metric {
  scenario: string
  name: string
  unit: Unit
  values: Record<string, Spread | null>
  /** Why a column has no figure, or how to read the row. */
  note?: string | undefined
}

export interface BenchOptions {
  drivers: string[]
  full: boolean
  rounds: number
  /** Only scenarios whose id is listed (all when empty). */
  only: string[]
  image?: string | undefined
  /** Run containerd's snapshotters beside ours where containerd and ctr are installed. */
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

  /** The columns of a scenario: every driver, and containerd's snapshotters where it compares. */
  columns(withPeers: boolean): string[] {
    return withPeers && this.opts.peer && peerAvailable() ? [...this.drivers, ...PEERS] : this.drivers
  }

  /** A new store for a driver (or a peer) in the bench's temporary directory. */
  async open(column: string, label: string): Promise<{ root: string; sn: Snapshotter }> {
    const root = join(await this.tmp(), `${column.replace(/[^a-z0-9-]/gi, '_')}-${label}-${this.#roots.length}`)
    this.#roots.push(root)
    return { root, sn: await this.reopen(column, root) }
  }

  /** Opens an existing store again (after closing it to measure or compact). */
  async reopen(column: string, root: string): Promise<Snapshotter> {
    return isPeer(column) ? openPeer(column, root) : openSnapshotter(column, root)
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

  /** Runs `fn(column, round)` for each round, every column once per round, in rotating order. */
  async rounds(rounds: number, columns: string[], fn: (column: string, round: number) => Promise<void>): Promise<void> {
    for (let r = 0; r < rounds; r++) {
      const k = r % columns.length
      for (const c of [...columns.slice(k), ...columns.slice(0, k)]) await fn(c, r)
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
