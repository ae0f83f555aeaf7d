/**
 * `strata pull`, `strata push` and `strata run REF` as a user runs them,
 * against a private docker-registry: run pulls an image it lacks, the
 * container's changes go out by commit-container + push, skopeo + umoci read
 * them back as the committed layer's tree, a second push sends no layer
 * bytes, and a wrong password is one line with a code and without the
 * password.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertSameTree } from '../conformance/compare.js'
import { DirFs } from '../fs/dirfs.js'
import { openSnapshotter } from '../index.js'
import { buildBusyboxImage } from './helpers/busybox.js'
import { strataCli } from './helpers/cli.js'
import { requireRoot, requireTool } from './helpers/index.js'
import { skopeoPush, startRegistry, type TestRegistry } from './helpers/registry.js'
import { missingTools, run, tempDir } from './helpers/tools.js'

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
  it('strata run REF pulls the missing image; commit-container + push is read back by skopeo + umoci; a second push sends no layer bytes', async (ctx) => {
    if (skip) ctx.skip(skip)
    requireRoot(ctx, 'strata run')
    requireTool(ctx, 'runc')
    const root = join(work, 'root-run')
    const strata = (...args: string[]) => strataCli(['--root', root, '--driver', 'overlay', ...args])
    const ref = `${registry!.host}/library/busybox:latest`
    const ran = await strata('run', '--name', 'c1', ref, '--', 'sh', '-c', 'echo made here > /hello; rm /etc/passwd; mkdir -p /srv/a')
    expect(ran.code, ran.stderr).toBe(0)
    const images = JSON.parse((await strata('--json', 'images')).stdout) as Array<{ tag: string }>
    expect(images.map((i) => i.tag)).toContain(ref)
    const committed = await strata('--json', 'commit-container', 'c1', '--tag', 'mine')
    expect(committed.code, committed.stderr).toBe(0)
    const { chainId } = JSON.parse(committed.stdout) as { chainId: string }
    const dest = `${registry!.host}/made/busybox:mine`
    const pushed = await strata('--json', 'push', 'mine', dest)
    expect(pushed.code, pushed.stderr).toBe(0)
    const first = JSON.parse(pushed.stdout) as { digest: string; layers: Array<{ how: string }> }
    expect(first.layers.map((l) => l.how)).toEqual(['mounted', 'uploaded'])
    const layout = join(work, 'pushed')
    await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${dest}`, `oci:${layout}:mine`])
    await run('umoci', ['unpack', '--image', `${layout}:mine`, join(work, 'pushed-bundle')])
    const sn = await openSnapshotter('overlay', root)
    const fs = await sn.open(chainId)
    try {
      await assertSameTree(new DirFs(join(work, 'pushed-bundle', 'rootfs'), { readOnly: true }), fs, 'pushed container')
      expect((await fs.readFile('/hello')).toString()).toBe('made here\n')
    } finally {
      await fs.close()
      await sn.close()
    }
    const again = await strata('--json', 'push', 'mine', dest)
    const second = JSON.parse(again.stdout) as { digest: string; uploadedBytes: number; layers: Array<{ how: string }> }
    expect(second.uploadedBytes).toBe(0)
    expect(second.layers.map((l) => l.how)).toEqual(['present', 'present'])
    expect(second.digest).toBe(first.digest)
    const plain = await strata('push', 'mine', `${registry!.host}/made/busybox:again`)
    expect(plain.stdout).toBe(`${registry!.host}/made/busybox@${first.digest}\n`)
    expect(plain.stderr).toContain('layers: 2 present, 0 mounted, 0 copied, 0 uploaded')
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
