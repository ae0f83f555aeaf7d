/** Starting the driver under test in a child process (crash and lock cases). */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import type { ChildSpec } from './context.js'

/** The compiled child script, found from the source tree (vitest) or the build. */
export function childScript(): string {
  const here = fileURLToPath(new URL('.', import.meta.url))
  for (const candidate of [join(here, 'child.js'), join(here, '..', 'dist', 'conformance', 'child.js')]) {
    if (existsSync(candidate)) return candidate
  }
  throw new Error(`conformance child script not found next to ${here}; run "npm run build" first`)
}

export function spawnChild(spec: ChildSpec, args: string[]): ChildProcess {
  return spawn(process.execPath, [childScript(), JSON.stringify(spec), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
}

export interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs the child to completion. */
export function runChild(spec: ChildSpec, args: string[]): Promise<ChildResult> {
  const child = spawnChild(spec, args)
  return collectChild(child)
}

export function collectChild(child: ChildProcess): Promise<ChildResult> {
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}
