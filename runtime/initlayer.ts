/**
 * The init layer, as Docker's overlay2 makes it: a committed snapshot
 * between the image and the container holding the few files the runtime
 * provides (hosts, hostname, resolv.conf, mount points for /dev, /proc and
 * /sys). Keeping them out of the container layer keeps them out of
 * `commit-container`, because that layer's diff is taken against this one.
 */
import { unlessMissing } from '../core/errors.js'
import { readFile } from 'node:fs/promises'
import type { SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { buildSnapshot } from '../layers/build.js'

export interface InitFiles {
  hostname: string
  /** The host's resolv.conf, as read (filtered here). */
  hostResolvConf?: string | undefined
}

/** The host's resolv.conf, or undefined when it has none. */
export async function readHostResolvConf(): Promise<string | undefined> {
  return unlessMissing(readFile('/etc/resolv.conf', 'utf8'))
}

/**
 * A container in its own network namespace cannot reach the host's loopback,
 * so local nameservers are dropped and, when none is left, public ones used (as Docker does).
 */
export function containerResolvConf(host: string | undefined): string {
  const lines = (host ?? '').split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l))
  const text = lines.join('\n').trim()
  const servers = /^\s*nameserver\s/m.test(text) ? '' : 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n'
  return (text ? text + '\n' : '') + servers
}

export function hostsFile(hostname: string): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
    `127.0.1.1\t${hostname}`,
    '',
  ].join('\n')
}

export async function writeInitFiles(fs: SnapshotFs, files: InitFiles): Promise<void> {
  for (const dir of ['/etc', '/dev/pts', '/dev/shm', '/proc', '/sys']) await fs.mkdir(dir, { recursive: true, mode: 0o755 })
  await fs.writeFile('/etc/hosts', hostsFile(files.hostname), { mode: 0o644 })
  await fs.writeFile('/etc/hostname', `${files.hostname}\n`, { mode: 0o644 })
  await fs.writeFile('/etc/resolv.conf', containerResolvConf(files.hostResolvConf), { mode: 0o644 })
  await fs.writeFile('/dev/console', '', { mode: 0o600 })
}

/**
 * Makes committed snapshot `name` on `parent` holding the init files. On any
 * failure the half-made snapshot is removed before the error is thrown.
 */
export async function makeInitLayer(
  sn: Snapshotter,
  name: string,
  parent: string | undefined,
  opts: InitFiles & { labels?: Record<string, string> },
): Promise<void> {
  await buildSnapshot(sn, { purpose: 'init', parent, name, labels: opts.labels }, (fs) => writeInitFiles(fs, opts))
}
