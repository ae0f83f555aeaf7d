/** Runs the built CLI (`dist/cli/main.js`) as a child process: exit code, stdout, stderr; stdin from a buffer. */
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  /** stdout as bytes (a tar from `strata diff`). */
  raw: Buffer
}

export interface CliOptions {
  input?: Buffer
  env?: NodeJS.ProcessEnv
  uid?: number
  gid?: number
}

const main = resolve('dist/cli/main.js')

export function strataCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [main, ...args], {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(opts.uid === undefined ? {} : { uid: opts.uid }),
      ...(opts.gid === undefined ? {} : { gid: opts.gid }),
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (c: Buffer) => out.push(c))
    child.stderr.on('data', (c: Buffer) => err.push(c))
    child.once('error', fail)
    child.once('close', (code, signal) => {
      const raw = Buffer.concat(out)
      done({ code: code ?? (signal ? 128 : 1), stdout: raw.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), raw })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(opts.input ?? Buffer.alloc(0))
  })
}
