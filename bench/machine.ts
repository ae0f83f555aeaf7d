/** What the figures were measured on. */
import { execFileSync } from 'node:child_process'
import { cpus, release, tmpdir, totalmem } from 'node:os'

export interface Machine {
  date: string
  cpu: string
  cores: number
  memoryGiB: number
  kernel: string
  node: string
  /** File system of the temporary directory the stores live in. */
  filesystem: string
}

function fsType(dir: string): string {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '--target', dir], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

export function machine(): Machine {
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    filesystem: `${fsType(tmpdir())} (${tmpdir()})`,
  }
}
