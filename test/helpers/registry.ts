/**
 * A private Debian `docker-registry` (CNCF Distribution 2.8) for the tests:
 * 127.0.0.1 on a free port, filesystem storage in a temp dir, optionally
 * behind htpasswd basic auth or bearer tokens from a token server the test
 * runs (auth.token with a self-made certificate). Stopped by its pid.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run, tempDir } from './tools.js'

export interface RegistryAuth {
  htpasswd?: { username: string; password: string }
  /** auth.token: the realm URL, and the PEM certificate whose key signs the tokens. */
  token?: { realm: string; service: string; issuer: string; certPem: string }
}

export interface TestRegistry {
  /** host:port */
  host: string
  dir: string
  stop(): Promise<void>
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

function authYaml(auth: RegistryAuth, dir: string): string[] {
  if (auth.htpasswd) return ['auth:', '  htpasswd:', '    realm: strata-test', `    path: ${join(dir, 'htpasswd')}`]
  if (auth.token) {
    return [
      'auth:',
      '  token:',
      `    realm: ${auth.token.realm}`,
      `    service: ${auth.token.service}`,
      `    issuer: ${auth.token.issuer}`,
      `    rootcertbundle: ${join(dir, 'token.crt')}`,
    ]
  }
  return []
}

export async function startRegistry(auth: RegistryAuth = {}): Promise<TestRegistry> {
  const dir = await tempDir('registry')
  await mkdir(join(dir, 'data'))
  if (auth.htpasswd) await run('htpasswd', ['-Bbc', join(dir, 'htpasswd'), auth.htpasswd.username, auth.htpasswd.password])
  if (auth.token) await writeFile(join(dir, 'token.crt'), auth.token.certPem)
  const port = await freePort()
  const host = `127.0.0.1:${port}`
  await writeFile(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}`,
      ...authYaml(auth, dir),
    ].join('\n') + '\n',
  )
  const proc: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.pid !== undefined) {
      const exited = new Promise((r) => proc.once('exit', r))
      process.kill(proc.pid, 'SIGTERM')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  }
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break
    const up = await fetch(`http://${host}/v2/`).then(
      () => true,
      () => false,
    )
    if (up) return { host, dir, stop }
    await new Promise((r) => setTimeout(r, 25))
  }
  await stop()
  throw new Error(`docker-registry did not start on ${host}: ${stderr.trim()}`)
}

/** `skopeo copy` of an OCI layout's tag into the registry (plain HTTP). */
export async function skopeoPush(layout: string, tag: string, dest: string, creds?: string): Promise<void> {
  await run('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    ...(creds ? ['--dest-creds', creds] : []),
    `oci:${layout}:${tag}`,
    `docker://${dest}`,
  ])
}
