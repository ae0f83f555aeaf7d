/**
 * The OCI runtime bundle of a container: `config.json` built from the image
 * config (Entrypoint, Cmd, Env, WorkingDir) and the command line, the way
 * Docker merges them: a command given on the line replaces the image's Cmd
 * and keeps its Entrypoint. Pure, except `writeBundle`.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgumentError } from '../core/errors.js'

/** The part of an image config (`config` of the OCI image JSON) a container starts from. */
export interface ContainerConfig {
  Entrypoint?: string[] | null
  Cmd?: string[] | null
  Env?: string[] | null
  WorkingDir?: string
  User?: string
}

export interface ProcessUser {
  uid: number
  gid: number
  additionalGids?: number[]
}

export interface SpecInput {
  args: string[]
  env: string[]
  cwd: string
  user: ProcessUser
  hostname: string
}

const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** Docker's default capability set: enough for a package manager, not for the host. */
const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]

/** The `config` object inside an image config JSON; absent fields stay absent. */
export function containerConfigOf(imageConfig: Record<string, unknown> | undefined): ContainerConfig {
  const c = imageConfig?.config
  return typeof c === 'object' && c !== null ? (c as ContainerConfig) : {}
}

export function processArgs(cfg: ContainerConfig, cmd: string[]): string[] {
  const args = [...(cfg.Entrypoint ?? []), ...(cmd.length > 0 ? cmd : (cfg.Cmd ?? []))]
  if (args.length === 0) throw new InvalidArgumentError('the image names no command (no Entrypoint or Cmd): give one after --')
  return args
}

/** The image's environment, with PATH when it lacks one and HOSTNAME, as Docker sets them. */
const nameOf = (e: string): string => e.slice(0, e.includes('=') ? e.indexOf('=') : e.length)

/**
 * The image's Env, then the caller's `NAME=value` settings over it (as
 * `docker run -e`: a bare NAME takes the value from our own environment,
 * and is left out when we have none). HOSTNAME is the container's.
 */
export function processEnv(cfg: ContainerConfig, hostname: string, set: string[] = []): string[] {
  const env = new Map<string, string>()
  for (const e of cfg.Env ?? []) env.set(nameOf(e), e)
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH)
  for (const e of set) {
    const name = nameOf(e)
    if (e.includes('=')) env.set(name, e)
    else if (process.env[name] !== undefined) env.set(name, `${name}=${process.env[name]}`)
  }
  env.delete('HOSTNAME')
  return [...env.values(), `HOSTNAME=${hostname}`]
}

export function pathOf(env: string[]): string[] {
  return (env.find((e) => e.startsWith('PATH='))?.slice(5) ?? '').split(':').filter(Boolean)
}

const NOSUID = ['nosuid', 'noexec', 'nodev']

export function ociSpec(input: SpecInput): Record<string, unknown> {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: input.user,
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      capabilities: Object.fromEntries(['bounding', 'effective', 'permitted'].map((set) => [set, CAPABILITIES])),
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: input.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: NOSUID },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: [...NOSUID, 'mode=1777', 'size=65536k'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: [...NOSUID, 'ro'] },
    ],
    linux: {
      namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type })),
      // What a container must not read or write of the host's kernel state, as runc's default spec.
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/proc/scsi',
        '/sys/firmware',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  }
}

/** Writes `config.json` into `dir`, whose `rootfs` the caller has mounted. */
export async function writeBundle(dir: string, spec: Record<string, unknown>): Promise<string> {
  const path = join(dir, 'config.json')
  await writeFile(path, JSON.stringify(spec, null, 2) + '\n', { mode: 0o600 })
  return path
}
