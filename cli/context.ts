/** What every command gets: the store (opened on first use), output helpers, the global flags. */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { NotFoundError } from '../core/errors.js'
import { Store } from '../core/store.js'
import { Metastore } from '../core/metastore.js'
import { openSnapshotter, registeredDrivers } from '../core/registry.js'
import type { Snapshotter } from '../core/snapshotter.js'
import { describeHolder, type Holder } from '../core/storelock.js'
import { openWhenFree } from '../core/storewait.js'
import { UsageError } from './command.js'

/** Per-user data directory: $STRATA_ROOT, else $XDG_DATA_HOME/strata, else ~/.local/share/strata. */
export function defaultRoot(): string {
  if (process.env.STRATA_ROOT) return process.env.STRATA_ROOT
  const data = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share')
  return join(data, 'strata')
}

/** How long a command waits for a store another process holds, unless --wait or --no-wait says otherwise. */
export const DEFAULT_WAIT_MS = 30_000

/** `--wait` values: 500ms, 10s, 2m, or a bare number of seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (!m) throw new UsageError(`--wait ${JSON.stringify(text)}: give a duration such as 500ms, 10s or 2m`)
  const n = Number(m[1])
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000
}

/** The driver a root was made with, read from its metastore; undefined for a new root. */
export async function rootDriver(root: string): Promise<string | undefined> {
  let store: Store
  try {
    store = await Store.open(root)
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_UNAVAILABLE') throw err
    return undefined
  }
  try {
    return await new Metastore(store).getMeta<string>('driver')
  } finally {
    await store.close()
  }
}

/** overlay where the kernel mounts it for us (root), row otherwise. */
export function defaultDriver(): string {
  return process.getuid?.() === 0 && registeredDrivers().includes('overlay')
    ? 'overlay'
    : registeredDrivers().includes('row')
      ? 'row'
      : 'native'
}

export class CliContext {
  readonly root: string
  readonly json: boolean
  readonly quiet: boolean
  /** Milliseconds to wait for a store another process holds. */
  readonly waitMs: number
  /** Whether --wait or --no-wait was given (a daemon waits only then). */
  readonly waitGiven: boolean
  readonly #driverFlag: string | undefined
  readonly #mustExist: boolean
  #sn: Snapshotter | undefined
  readonly out: NodeJS.WriteStream = process.stdout
  readonly err: NodeJS.WriteStream = process.stderr

  constructor(opts: {
    root?: string | undefined
    driver?: string | undefined
    json?: boolean | undefined
    quiet?: boolean | undefined
    /** A read-only command: a root that does not exist is an error, not a new store. */
    mustExist?: boolean | undefined
    waitMs?: number | undefined
  }) {
    this.root = opts.root ?? defaultRoot()
    this.#mustExist = opts.mustExist ?? false
    this.waitMs = opts.waitMs ?? DEFAULT_WAIT_MS
    this.waitGiven = opts.waitMs !== undefined
    this.json = opts.json ?? false
    this.quiet = opts.quiet ?? false
    this.#driverFlag = opts.driver
  }

  /**
   * Opens the store with the driver it was made with (or --driver, or the
   * default for a new root), waiting up to `waitMs` (or `opts.waitMs`) while
   * another process holds it; a terminal is told who that is.
   */
  async sn(opts: { waitMs?: number } = {}): Promise<Snapshotter> {
    if (this.#sn) return this.#sn
    if (this.#mustExist && !existsSync(this.root)) {
      throw new NotFoundError(`no store at ${this.root} (check --root or $STRATA_ROOT; a command that writes makes one)`)
    }
    this.#sn = await openWhenFree(() => this.#open(), {
      wait: opts.waitMs ?? this.waitMs,
      onBusy: (holder) => this.#tellWaiting(holder),
    })
    return this.#sn
  }

  #tellWaiting(holder: Holder | undefined): void {
    if (this.quiet || !this.err.isTTY) return
    this.err.write(`strata: waiting for ${this.root}: in use by ${describeHolder(holder)}\n`)
  }

  async #open(): Promise<Snapshotter> {
    const recorded = await rootDriver(this.root)
    if (this.#driverFlag && recorded && this.#driverFlag !== recorded) {
      throw new UsageError(`${this.root} holds a ${recorded} store; drop --driver or pass --driver ${recorded}`)
    }
    const driver = this.#driverFlag ?? recorded ?? defaultDriver()
    return openSnapshotter(driver, this.root)
  }

  async close(): Promise<void> {
    await this.#sn?.close()
  }

  /** Closes the store so other processes can use it; the next `sn()` opens it again. */
  async release(): Promise<void> {
    const sn = this.#sn
    this.#sn = undefined
    await sn?.close()
  }

  print(line = ''): void {
    this.out.write(line + '\n')
  }

  printJson(value: unknown): void {
    this.out.write(JSON.stringify(value, null, 2) + '\n')
  }

  /** Progress goes to a terminal only: quiet when piped, as long jobs should be. */
  get showProgress(): boolean {
    return !this.quiet && !this.json && Boolean(this.err.isTTY)
  }

  /** Prints rows as aligned columns. */
  table(header: string[], rows: string[][]): void {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
    const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ')
    this.print(line(header))
    for (const r of rows) this.print(line(r))
  }
}
