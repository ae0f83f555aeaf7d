/**
 * `strata pull` and `strata push` as a user runs them, against a private
 * docker-registry: push prints REPOSITORY@DIGEST and mounts or skips what the
 * registry has; credentials come from --user or docker's config.json; a
 * wrong password is one line with a code and without the password.
 * (`strata run REF` with commit-container + push is in runtime.test.ts,
 * whose containers run one at a time.)
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildBusyboxImage } from './helpers/busybox.js'
import { strataCli } from './helpers/cli.js'
import { skopeoPush, startRegistry, type TestRegistry } from './helpers/registry.js'
import { missingTools, tempDir } from './helpers/tools.js'

const user = { username: 'bob', password: 'Hunter2-not-shown' }
let work: string
let registry: TestRegistry | undefined
let locked: TestRegistry | undefined
let skip: string | undefined

beforeAll(async () => {
  skip = await missingTools('umoci', 'busybox', 'skopeo', 'docker-registry', 'htpasswd')
  if (skip) return
  work = await tempDir('registry-cli')
  const busybox = await buildBusyboxImage(work)
  registry = await startRegistry()
  locked = await startRegistry({ htpasswd: user })
  await skopeoPush(busybox, 'latest', `${registry.host}/library/busybox:latest`)
  await skopeoPush(busybox, 'latest', `${locked.host}/library/busybox:latest`, `${user.username}:${user.password}`)
}, 120_000)

afterAll(async () => {
  await registry?.stop()
  await locked?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

describe('strata pull and push', () => {
  it('strata push of a pulled image mounts its layers, prints REPOSITORY@DIGEST, and sends no layer bytes the second time', async (ctx) => {
    if (skip) ctx.skip(skip)
    const root = join(work, 'root-push')
    const strata = (...args: string[]) => strataCli(['--root', root, '--driver', 'native', ...args])
    const ref = `${registry!.host}/library/busybox:latest`
    const pulled = await strata('--json', 'pull', ref)
    expect(pulled.code, pulled.stderr).toBe(0)
    const { manifestDigest } = JSON.parse(pulled.stdout) as { manifestDigest: string }
    const dest = `${registry!.host}/made/busybox:copy`
    const first = await strata('--json', 'push', ref, dest)
    expect(first.code, first.stderr).toBe(0)
    expect(JSON.parse(first.stdout)).toMatchObject({ digest: manifestDigest, uploadedBytes: 0, layers: [{ how: 'mounted' }] })
    const plain = await strata('push', ref, `${registry!.host}/made/busybox@${manifestDigest}`)
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stdout).toBe(`${registry!.host}/made/busybox@${manifestDigest}\n`)
    expect(plain.stderr).toContain('layers: 1 present, 0 mounted, 0 copied, 0 uploaded')
  })

  it("strata pull with a wrong --user fails in one line with ERR_FAILED_PRECONDITION and no password; the right one, or docker's config.json, pulls", async (ctx) => {
    if (skip) ctx.skip(skip)
    const root = join(work, 'root-auth')
    const strata = (...args: string[]) => strataCli(['--root', root, '--driver', 'native', ...args])
    const ref = `${locked!.host}/library/busybox:latest`
    const wrong = await strata('pull', ref, '--user', `${user.username}:wrong-Passw0rd`)
    expect(wrong.code).toBe(1)
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1)
    expect(wrong.stderr).toContain('ERR_FAILED_PRECONDITION')
    expect(wrong.stderr).toContain(ref)
    expect(wrong.stderr).not.toContain('wrong-Passw0rd')
    const ok = await strata('--json', 'pull', ref, '--user', `${user.username}:${user.password}`)
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).not.toContain(user.password)
    expect(JSON.parse(ok.stdout).chainIds).toHaveLength(1)
    const docker = join(work, 'docker-config')
    await mkdir(docker, { recursive: true })
    const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64')
    await writeFile(join(docker, 'config.json'), JSON.stringify({ auths: { [locked!.host]: { auth } } }))
    const viaConfig = await strataCli(['--root', join(work, 'root-config'), '--driver', 'native', 'pull', ref], {
      env: { ...process.env, DOCKER_CONFIG: docker },
    })
    expect(viaConfig.code, viaConfig.stderr).toBe(0)
    const bad = await strata('pull', 'Not A Reference')
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('ERR_INVALID_ARGUMENT')
  })
})
