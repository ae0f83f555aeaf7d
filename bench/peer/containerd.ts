/**
 * containerd as a peer: a private daemon on a private root and socket, and
 * its snapshotters (overlayfs, native) driven through `ctr snapshots`, shaped
 * as a strata Snapshotter so the same scenario code measures both. Every
 * call is a ctr process (about 15 ms of the figure); the scenarios report
 * ratios, which that constant mostly cancels.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { DirFs } from '../../fs/dirfs.js'
import { NotFoundError, UnavailableError } from '../../core/errors.js'
import { mountAll, unmount, unmountUnder } from '../../fs/mount.js'
import type { Info, Kind, Mount, SnapshotFs, SnapshotOptions, Snapshotter, Usage } from '../../core/snapshotter.js'

const run = promisify(execFile)

export const PEERS = ['containerd:overlayfs', 'containerd:native'] as const

export function isPeer(column: string): boolean {
  return column.startsWith('containerd:')
}

/** containerd and ctr on PATH, and root to run a daemon. */
export function peerAvailable(): boolean {
  return (
    process.getuid?.() === 0 &&
    ['containerd', 'ctr'].every((tool) => (process.env.PATH ?? '').split(':').some((dir) => existsSync(join(dir, tool))))
  )
}

/** A containerd daemon owning `root` (its state and socket live beside it). */
export class Daemon {
  readonly root: string
  readonly socket: string
  readonly #proc: ChildProcess
  /** The daemon's socket, state and config: removed when it stops. */
  readonly #run: string

  private constructor(root: string, socket: string, proc: ChildProcess, run: string) {
    this.root = root
    this.socket = socket
    this.#proc = proc
    this.#run = run
  }

  static async start(root: string): Promise<Daemon> {
    await mkdir(root, { recursive: true })
    const run = await mkdtemp('/run/strata-ctrd-').catch(() => mkdtemp('/tmp/strata-ctrd-'))
    const socket = join(run, 'containerd.sock')
    const config = join(run, 'config.toml')
    await writeFile(
      config,
      [
        'version = 2',
        `root = ${JSON.stringify(root)}`,
        `state = ${JSON.stringify(join(run, 'state'))}`,
        '[grpc]',
        `  address = ${JSON.stringify(socket)}`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        '  disable = true',
      ].join('\n') + '\n',
    )
    const proc = spawn('containerd', ['--config', config], { stdio: 'ignore' })
    for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 25))
    if (!existsSync(socket)) {
      proc.kill()
      await rm(run, { recursive: true, force: true })
      throw new UnavailableError(`containerd did not start on ${socket}`)
    }
    return new Daemon(root, socket, proc, run)
  }

  async ctr(args: string[]): Promise<string> {
    try {
      return (await run('ctr', ['-a', this.socket, '-n', 'strata-bench', ...args], { maxBuffer: 64 << 20 })).stdout
    } catch (err) {
      const stderr = String((err as { stderr?: string }).stderr ?? '')
      if (/not found/.test(stderr)) throw new NotFoundError(stderr.trim())
      throw new Error(`ctr ${args.join(' ')}: ${stderr.trim()}`)
    }
  }

  async stop(): Promise<void> {
    await unmountUnder(this.root)
    await new Promise<void>((resolve) => {
      this.#proc.once('exit', () => resolve())
      this.#proc.kill('SIGTERM')
    })
    await rm(this.#run, { recursive: true, force: true })
  }
}

const GC = { 'containerd.io/gc.root': 'strata-bench' }

/** "mount -t overlay overlay /target -o a,b" → Mount. */
export function parseMountLine(line: string, target: string): Mount {
  const m = /^mount -t (\S+) (\S+) (\S+)(?: -o (\S+))?$/.exec(line.trim())
  if (!m || m[3] !== target) throw new Error(`cannot read ctr mount line: ${line}`)
  return { type: m[1], source: m[2], options: m[4] ? m[4].split(',') : [] }
}

/** "4.0 KiB" → bytes (ctr prints usage rounded, so this is approximate). */
export function parseSize(s: string): number {
  const m = /^([\d.]+)\s*(B|kB|KiB|MB|MiB|GB|GiB|TB|TiB)$/.exec(s.trim())
  if (!m) return NaN
  const unit: Record<string, number> = { B: 1, kB: 1e3, KiB: 1024, MB: 1e6, MiB: 2 ** 20, GB: 1e9, GiB: 2 ** 30, TB: 1e12, TiB: 2 ** 40 }
  return Number(m[1]) * unit[m[2]]
}

export class CtrSnapshotter implements Snapshotter {
  readonly driver: string
  readonly #d: Daemon
  readonly #name: string
  #mnt = 0

  constructor(daemon: Daemon, snapshotter: string) {
    this.#d = daemon
    this.#name = snapshotter
    this.driver = `containerd:${snapshotter}`
  }

  #snap(...args: string[]): Promise<string> {
    return this.#d.ctr(['snapshots', '--snapshotter', this.#name, ...args])
  }

  async stat(key: string): Promise<Info> {
    const raw = JSON.parse(await this.#snap('info', key)) as {
      Kind: string
      Name: string
      Parent?: string
      Labels?: Record<string, string>
      Created: string
      Updated: string
    }
    const info: Info = {
      name: raw.Name,
      kind: raw.Kind.toLowerCase() as Kind,
      labels: raw.Labels ?? {},
      created: new Date(raw.Created),
      updated: new Date(raw.Updated),
    }
    if (raw.Parent) info.parent = raw.Parent
    return info
  }

  async update(info: { name: string; labels?: Record<string, string> }): Promise<Info> {
    await this.#snap('label', info.name, ...Object.entries(info.labels ?? {}).map(([k, v]) => `${k}=${v}`))
    return this.stat(info.name)
  }

  async usage(key: string): Promise<Usage> {
    const line = (await this.#snap('usage', key)).split('\n')[1] ?? ''
    const m = /\s([\d.]+\s*\S*B)\s+(\d+)\s*$/.exec(line)
    return { size: m ? parseSize(m[1]) : NaN, inodes: m ? Number(m[2]) : NaN }
  }

  async mounts(key: string): Promise<Mount[]> {
    const target = '/strata-target'
    return (await this.#snap('mounts', target, key))
      .split('\n')
      .filter(Boolean)
      .map((l) => parseMountLine(l, target))
  }

  /**
   * Debian's ctr (1.6) takes no labels on prepare, view or commit: a second
   * ctr call labels the snapshot as a GC root, or containerd's collector
   * would take it. Each of these calls is therefore two ctr processes.
   */
  async #made(key: string, labels: Record<string, string> | undefined): Promise<void> {
    await this.#snap('label', key, ...Object.entries({ ...GC, ...labels }).map(([k, v]) => `${k}=${v}`))
  }

  async #create(verb: 'prepare' | 'view', key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    type RawMount = { Type?: string; type?: string; Source?: string; source?: string; Options?: string[]; options?: string[] }
    let raw: RawMount[] = []
    // A collection started by an earlier remove can take the new snapshot
    // before its label lands; make it again then (rare, and inside the timing).
    for (let attempt = 0; ; attempt++) {
      raw = JSON.parse(await this.#snap(verb, '--mounts', key, ...(parent ? [parent] : []))) as RawMount[]
      try {
        await this.#made(key, opts?.labels)
        break
      } catch (err) {
        if (!(err instanceof NotFoundError) || attempt >= 2) throw err
      }
    }
    return raw.map((m) => ({ type: m.Type ?? m.type ?? '', source: m.Source ?? m.source ?? '', options: m.Options ?? m.options ?? [] }))
  }

  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.#create('prepare', key, parent, opts)
  }

  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.#create('view', key, parent, opts)
  }

  async commit(name: string, key: string, opts?: SnapshotOptions): Promise<void> {
    await this.#snap('commit', name, key)
    await this.#made(name, opts?.labels)
  }

  async remove(key: string): Promise<void> {
    await this.#snap('rm', key)
  }

  walk(): AsyncIterable<Info> {
    const self = this
    return (async function* () {
      const lines = (await self.#snap('ls')).split('\n').slice(1).filter(Boolean)
      for (const l of lines) yield await self.stat(l.trim().split(/\s+/)[0])
    })()
  }

  /** A kernel mount of mounts() in a temporary directory, unmounted on close. */
  async open(key: string): Promise<SnapshotFs> {
    const info = await this.stat(key)
    const target = join(this.#d.root, '..', `strata-peer-mnt-${process.pid}-${++this.#mnt}`)
    await mountAll(await this.mounts(key), target)
    return new DirFs(target, { readOnly: info.kind !== 'active', onClose: () => unmount(target) })
  }

  /** `ctr images import` of an OCI or docker archive, unpacked into this snapshotter. */
  async importArchive(archive: string): Promise<void> {
    await this.#d.ctr(['images', 'import', '--snapshotter', this.#name, '--base-name', 'strata.bench/image', archive])
  }

  async cleanup(): Promise<void> {}

  async close(): Promise<void> {
    await this.#d.stop()
  }
}

/** Opens (starting a daemon on `root`) the peer named `containerd:<snapshotter>`. */
export async function openPeer(column: string, root: string): Promise<Snapshotter> {
  const snapshotter = column.slice('containerd:'.length)
  return new CtrSnapshotter(await Daemon.start(root), snapshotter)
}
