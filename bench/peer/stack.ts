/**
 * A private containerd with strata behind it: one `strata serve` per driver
 * (each on its own root and socket) and a containerd whose config.toml names
 * each as `[proxy_plugins.strata-<driver>]`, everything in one directory
 * (root, state, sockets, config); nothing under /var/lib/containerd or
 * /run/containerd. Started and stopped by pid. The serve tests and the
 * containerd bench scenario share it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { UnavailableError } from '../../core/errors.js'
import { unmountUnder } from '../../fs/mount.js'

const exec = promisify(execFile)

export interface CtrResult {
  code: number
  stdout: string
  stderr: string
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const until = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > until) throw new UnavailableError(`${what} did not happen within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function exited(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => proc.once('exit', () => resolve()))
}

/** The built CLI: beside this module in dist/, or dist/ of the working directory when run from source (vitest). */
function strataMain(): string {
  const here = import.meta.url
  return here.endsWith('.ts') ? resolve('dist/cli/main.js') : fileURLToPath(new URL('../../cli/main.js', here))
}

/** One `strata serve` child: its root, socket, and what it wrote to stderr. */
export class ServeProcess {
  readonly driver: string
  readonly root: string
  readonly socket: string
  #proc: ChildProcess | undefined
  #log = ''

  constructor(driver: string, root: string, socket: string) {
    this.driver = driver
    this.root = root
    this.socket = socket
  }

  get pid(): number | undefined {
    return this.#proc?.pid
  }

  /** Everything the daemons this object started wrote to stderr. */
  get log(): string {
    return this.#log
  }

  async start(extra: string[] = []): Promise<void> {
    const main = strataMain()
    const proc = spawn(process.execPath, [main, '--root', this.root, '--driver', this.driver, 'serve', '--socket', this.socket, ...extra], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    this.#proc = proc
    proc.stderr!.on('data', (c: Buffer) => {
      this.#log += c.toString('utf8')
    })
    // The log runs on across restarts: look only at what this start wrote.
    const from = this.#log.length
    await waitFor(`strata serve (${this.driver}) listening on ${this.socket}`, () => {
      const mine = this.#log.slice(from)
      if (proc.exitCode !== null) throw new UnavailableError(`strata serve exited with ${proc.exitCode}: ${mine.trim()}`)
      return mine.includes('msg=serving') || mine.includes('"msg":"serving"')
    })
  }

  /** Sends `signal` and waits for the process to end; the exit code (or 128+n for a signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    const proc = this.#proc
    if (!proc) return 0
    this.#proc = undefined
    const done = exited(proc)
    proc.kill(signal)
    await done
    return proc.exitCode ?? 128
  }
}

export interface StackOptions {
  /** The directory everything lives in (made if missing). */
  dir: string
  /** strata drivers to serve, one proxy plugin `strata-<driver>` each. */
  drivers: string[]
  /** The ctr namespace calls run in. */
  namespace?: string
}

export class ContainerdStack {
  readonly dir: string
  readonly socket: string
  readonly namespace: string
  readonly serves: Map<string, ServeProcess>
  #proc: ChildProcess | undefined
  #log = ''

  private constructor(opts: StackOptions) {
    this.dir = opts.dir
    this.socket = join(opts.dir, 'containerd.sock')
    this.namespace = opts.namespace ?? 'strata'
    this.serves = new Map(
      opts.drivers.map((d) => [d, new ServeProcess(d, join(opts.dir, `strata-${d}`), join(opts.dir, 'run', `strata-${d}.sock`))]),
    )
  }

  static async start(opts: StackOptions): Promise<ContainerdStack> {
    const stack = new ContainerdStack(opts)
    await mkdir(opts.dir, { recursive: true })
    try {
      for (const s of stack.serves.values()) await s.start()
      await stack.#startContainerd()
    } catch (err) {
      await stack.stop()
      throw err
    }
    return stack
  }

  /** The config.toml: private paths, no CRI or other snapshotters, a prompt garbage collector. */
  #config(): string {
    const q = JSON.stringify
    const lines = [
      'version = 2',
      `root = ${q(join(this.dir, 'root'))}`,
      `state = ${q(join(this.dir, 'state'))}`,
      // Only what import, run and GC need: CRI alone costs a second of start-up.
      'disabled_plugins = [',
      ...[
        'io.containerd.grpc.v1.cri',
        'io.containerd.snapshotter.v1.aufs',
        'io.containerd.snapshotter.v1.btrfs',
        'io.containerd.snapshotter.v1.zfs',
        'io.containerd.snapshotter.v1.devmapper',
        'io.containerd.tracing.processor.v1.otlp',
        'io.containerd.internal.v1.tracing',
        'io.containerd.monitor.v1.cgroups',
      ].map((p) => `  ${q(p)},`),
      ']',
      '[grpc]',
      `  address = ${q(this.socket)}`,
      '[ttrpc]',
      `  address = ${q(`${this.socket}.ttrpc`)}`,
      '[debug]',
      `  address = ${q(`${this.socket}.debug`)}`,
      ...(process.env.STRATA_CTRD_DEBUG ? ['  level = "debug"'] : []),
      // Collect after every deletion, so `images rm` and `snapshots rm` reach the backends at once.
      '[plugins."io.containerd.gc.v1.scheduler"]',
      '  deletion_threshold = 1',
      '  schedule_delay = "0ms"',
      '  startup_delay = "0ms"',
    ]
    for (const s of this.serves.values()) {
      lines.push(`[proxy_plugins.${q(`strata-${s.driver}`)}]`, '  type = "snapshot"', `  address = ${q(s.socket)}`)
    }
    return lines.join('\n') + '\n'
  }

  async #startContainerd(): Promise<void> {
    const config = join(this.dir, 'config.toml')
    await writeFile(config, this.#config())
    const proc = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc.stderr!.on('data', (c: Buffer) => {
      this.#log = (this.#log + c.toString('utf8')).slice(-200_000)
    })
    this.#proc = proc
    await waitFor('containerd start-up', async () => {
      if (proc.exitCode !== null) throw new UnavailableError(`containerd exited with ${proc.exitCode}: ${this.#log.slice(-2000)}`)
      return existsSync(this.socket) && (await this.ctr(['version'])).code === 0
    })
  }

  /** The last 200 kB containerd wrote to stderr. */
  get log(): string {
    return this.#log
  }

  /** Runs ctr against this containerd in its namespace; never throws for a non-zero exit. */
  async ctr(args: string[], opts: { timeout?: number } = {}): Promise<CtrResult> {
    try {
      const { stdout, stderr } = await exec('ctr', ['-a', this.socket, '-n', this.namespace, ...args], {
        maxBuffer: 64 << 20,
        timeout: opts.timeout ?? 60_000,
      })
      return { code: 0, stdout, stderr }
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string }
      return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message }
    }
  }

  /** As ctr(), but a non-zero exit throws with ctr's stderr. */
  async ctrOk(args: string[], opts: { timeout?: number } = {}): Promise<string> {
    const r = await this.ctr(args, opts)
    if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`)
    return r.stdout
  }

  serve(driver: string): ServeProcess {
    const s = this.serves.get(driver)
    if (!s) throw new Error(`no strata serve for driver ${driver} in this stack`)
    return s
  }

  /** Stops containerd, then every serve (SIGTERM), then takes down mounts left under the directory. */
  async stop(): Promise<void> {
    const proc = this.#proc
    this.#proc = undefined
    if (proc) {
      const done = exited(proc)
      proc.kill('SIGTERM')
      await done
    }
    for (const s of this.serves.values()) await s.stop()
    await unmountUnder(this.dir)
  }
}
