/**
 * Starting a bundle with an OCI runtime: runc, else crun, from PATH. The
 * runtime runs in the foreground with our stdio, so the process's output is
 * passed through untouched, and its exit status becomes ours (128 + n for a
 * death by signal n, as shells report it).
 */
import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { FailedPreconditionError } from '../core/errors.js'
import { hasExecutable } from './hostpath.js'

export const RUNTIMES = ['runc', 'crun']

export async function findRuntime(): Promise<string> {
  for (const name of RUNTIMES) {
    const found = await hasExecutable(name)
    if (found) return found
  }
  throw new FailedPreconditionError(`no OCI runtime: neither ${RUNTIMES.join(' nor ')} is on PATH (apt-get install runc)`)
}

export function requireRootUser(): void {
  if (process.getuid?.() !== 0) throw new FailedPreconditionError('running a container needs root (mounts and namespaces)')
}

/** The signals a foreground runtime should see; it forwards them to the container's process. */
export const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']

/**
 * Runs `runtime run --bundle DIR ID` and resolves with the exit code.
 * `onStart` gets a function that sends a signal to the runtime.
 */
export function runBundle(
  runtime: string,
  bundle: string,
  id: string,
  onStart?: (kill: (s: NodeJS.Signals) => void) => void,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(runtime, ['run', '--bundle', bundle, id], { stdio: 'inherit' })
    child.once('error', reject)
    child.once('spawn', () => onStart?.((s) => child.kill(s)))
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)))
  })
}

/** Removes what a runtime that died by a signal left of the container's state; errors are ignored. */
export function forceDelete(runtime: string, id: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(runtime, ['delete', '--force', id], { stdio: 'ignore' })
    child.once('error', () => resolve())
    child.once('exit', () => resolve())
  })
}
