/** Whether the process that owns a piece of work still runs, by pid and start time. */
import { existsSync, readFileSync } from 'node:fs'

/**
 * The start time of process `pid` in clock ticks since boot (field 22 of
 * /proc/PID/stat), or undefined when no such process runs. Off Linux, where
 * /proc is missing, any signalable process counts as started at 0.
 */
export function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return Number(fields[19])
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self/stat')) return undefined
    return signalable(pid) ? 0 : undefined
  }
}

function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** True while the process that started `wip` still runs (same pid, same start time). */
export function ownerAlive(wip: { pid: number; started?: number | undefined }): boolean {
  const start = processStart(wip.pid)
  if (start === undefined) return false
  return wip.started === undefined || wip.started === start
}
