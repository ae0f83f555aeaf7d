/**
 * The runtime prototype end to end, as root with runc and a busybox image
 * built by umoci: `strata run` passes output and exit codes through, the
 * container's writes land in its own layer only, commit-container makes them
 * an image another container sees, and bad input fails in one line leaving
 * no mount and no snapshot behind.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdir, readFile, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it, type TestContext } from 'vitest'
import { openSnapshotter, type Snapshotter } from '../index.js'
import { hasTool, requireRoot, requireTool } from './helpers/index.js'
import { buildBusyboxImage } from './helpers/busybox.js'
import { strataCli } from './helpers/cli.js'
import { skopeoPush, startRegistry } from './helpers/registry.js'
import { run, tempDir } from './helpers/tools.js'
import { assertSameTree } from '../conformance/compare.js'
import { DirFs } from '../fs/dirfs.js'

let work: string
let layout: string | undefined
let root: string

let hostTmp: string

beforeAll(async () => {
  work = await tempDir('runtime')
  // Every strata run of this file makes its bundle under a temp dir of its own, so the
  // leftover-mount checks see this file's mounts only, not those of other tests running meanwhile.
  hostTmp = join(work, 'host-tmp')
  await mkdir(hostTmp)
  process.env.TMPDIR = hostTmp
  if (hasTool('umoci') && hasTool('busybox')) layout = await buildBusyboxImage(work)
}, 60_000)
afterAll(() => rm(work, { recursive: true, force: true }))

beforeEach(async () => {
  root = await tempDir('runtime-store')
  return () => rm(root, { recursive: true, force: true })
})

function requireRuntime(ctx: TestContext): string {
  requireRoot(ctx, 'strata run')
  requireTool(ctx, 'runc')
  requireTool(ctx, 'umoci')
  requireTool(ctx, 'busybox')
  return layout!
}

const strata = (...args: string[]) => strataCli(['--root', root, ...args])

async function withStore<T>(driver: string, fn: (sn: Snapshotter) => Promise<T>): Promise<T> {
  const sn = await openSnapshotter(driver, root)
  try {
    return await fn(sn)
  } finally {
    await sn.close()
  }
}

async function snapshotNames(): Promise<string[]> {
  return (JSON.parse((await strata('--json', 'ls')).stdout) as Array<{ name: string }>).map((i) => i.name).sort()
}

/** Mount points a run left: its bundles are named strata-run-*, the store's data lives under root. */
async function leftoverMounts(): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8')
  return info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(hostTmp) || p.startsWith(root))
}

/** runc's status of a container, or undefined once runc no longer knows it. */
function runcStatus(id: string): string | undefined {
  try {
    return (JSON.parse(execFileSync('runc', ['state', id], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()) as { status: string })
      .status
  } catch {
    return undefined
  }
}

describe.each(['native', 'overlay', 'row'])('strata run with the %s driver', (driver) => {
  it('passes stdout and the exit code through; the file the command wrote is in the container layer, not the image', async (ctx) => {
    const image = requireRuntime(ctx)
    const r = await strata('--driver', driver, 'run', '--name', 'c1', image, '--', 'sh', '-c', 'echo hi; echo data > /made; exit 3')
    expect(r.stdout).toBe('hi\n')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(3)
    expect(await leftoverMounts()).toEqual([])
    const img = JSON.parse((await strata('--json', 'images')).stdout) as Array<{ tag: string; chainId: string; layers: number }>
    expect(img).toMatchObject([{ tag: 'latest', layers: 1 }])
    await withStore(driver, async (sn) => {
      expect(sn.driver).toBe(driver)
      const ctr = await sn.open('c1')
      expect((await ctr.readFile('/made')).toString()).toBe('data\n')
      await ctr.close()
      const top = await sn.open(img[0].chainId)
      await expect(top.readFile('/made')).rejects.toMatchObject({ code: 'ENOENT' })
      await top.close()
      const init = await sn.open('c1-init')
      expect((await init.readFile('/etc/hostname')).toString()).toBe('c1\n')
      await init.close()
    })
    const ps = JSON.parse((await strata('--json', 'ps')).stdout) as Array<{ name: string; image: string; status: string }>
    expect(ps).toMatchObject([{ name: 'c1', image: 'latest', status: 'stopped' }])
  })

  it('commit-container makes the container an image whose next container sees its file; rm-container removes it', async (ctx) => {
    const image = requireRuntime(ctx)
    expect((await strata('--driver', driver, 'run', '--name', 'c1', image, '--', 'sh', '-c', 'echo data > /made')).code).toBe(0)
    const commit = await strata('commit-container', 'c1', '--tag', 'mine')
    expect(commit.code).toBe(0)
    expect(commit.stdout).toMatch(/^mine sha256:[0-9a-f]{64}\n$/)
    const images = JSON.parse((await strata('--json', 'images')).stdout) as Array<{ tag: string; layers: number }>
    expect(images.map((i) => [i.tag, i.layers])).toEqual([
      ['latest', 1],
      ['mine', 2],
    ])
    const again = await strata('run', '--rm', 'mine', '--', 'cat', '/made')
    expect(again).toMatchObject({ code: 0, stdout: 'data\n' })
    // --rm left no container behind, and a generated name was printed on stderr.
    expect(again.stderr).toMatch(/^ctr-[0-9a-f]{8}\n$/)
    expect((JSON.parse((await strata('--json', 'ps')).stdout) as unknown[]).length).toBe(1)
    expect((await strata('rm-container', 'c1')).code).toBe(0)
    const left = await snapshotNames()
    expect(left).not.toContain('c1')
    expect(left).not.toContain('c1-init')
    expect(left).toHaveLength(2) // the image layer and the committed one
    expect(await leftoverMounts()).toEqual([])
  })

  it('a strata run killed with SIGKILL leaves a mount and a live container that cleanup undoes; then rm-container works', async (ctx) => {
    const image = requireRuntime(ctx)
    // On row the killed process was the FUSE server of the container's root: the container cannot stay
    // "running" on a dead mount, so this case needs its own expectations (issue 16, not done yet).
    if (driver === 'row') ctx.skip('row: a killed run takes its FUSE-served rootfs with it; expectations not written yet')
    const proc = spawn(
      process.execPath,
      [resolve('dist/cli/main.js'), '--root', root, '--driver', driver, 'run', '--name', 'k', image, '--', 'sleep', '60'],
      { stdio: 'ignore' },
    )
    const exited = new Promise((r) => proc.once('close', r))
    let id = ''
    // Should an assertion fail, leave no running container or mount for the rest of the suite.
    ctx.onTestFinished(async () => {
      proc.kill('SIGKILL')
      if (id !== '') execFileSync('runc', ['delete', '--force', id], { stdio: 'ignore' })
      for (const m of await leftoverMounts()) execFileSync('umount', ['-l', m])
    })
    // Wait for runc to run it. Asked through runc, not strata: a strata
    // command would hold the store just when the run wants to open it.
    let gone = false
    void exited.then(() => {
      gone = true
    })
    for (let i = 0; i < 300 && id === '' && !gone; i++) {
      await new Promise((r) => setTimeout(r, 100))
      const list = JSON.parse(execFileSync('runc', ['list', '--format', 'json']).toString() || 'null') as Array<{
        id: string
        status: string
        bundle: string
      }> | null
      // Only a run of this file (its bundles are under hostTmp), never another file's running meanwhile.
      const ours = (c: { id: string; status: string; bundle: string }) =>
        c.id.startsWith('strata-') && c.status === 'running' && c.bundle.startsWith(hostTmp)
      id = list?.find(ours)?.id ?? ''
    }
    expect(id, 'strata run exited before its container ran').not.toBe('')
    proc.kill('SIGKILL')
    await exited
    expect(await leftoverMounts()).not.toEqual([])
    expect(runcStatus(id)).toBe('running')
    const labels = (JSON.parse((await strata('--json', 'info', 'k')).stdout) as { labels: Record<string, string> }).labels
    expect(JSON.parse(labels['strata.io/container.run'])).toMatchObject({ id })
    expect(JSON.parse((await strata('--json', 'ps')).stdout)).toMatchObject([{ name: 'k', status: 'interrupted' }])
    const cleanup = await strata('cleanup')
    expect(cleanup).toMatchObject({ code: 0, stdout: 'released container k (its strata run had died)\n' })
    expect(await leftoverMounts()).toEqual([])
    expect(runcStatus(id)).toBeUndefined()
    expect(JSON.parse((await strata('--json', 'ps')).stdout)).toMatchObject([{ name: 'k', status: 'stopped' }])
    expect((await strata('rm-container', 'k')).code).toBe(0)
    expect((await snapshotNames()).every((n) => n.startsWith('sha256:'))).toBe(true)
  }, 60_000)

  it("--env sets variables over the image's Env; a bare NAME passes ours on; HOSTNAME stays the container's", async (ctx) => {
    const image = requireRuntime(ctx)
    const r = await strataCli(
      [
        '--root',
        root,
        '--driver',
        driver,
        'run',
        '--rm',
        '--name',
        'envy',
        '-e',
        'GREETING=a=b',
        '--env',
        'PATH=/bin',
        '-e',
        'FROM_HOST',
        '-e',
        'NOT_SET_HERE',
        '-e',
        'HOSTNAME=x',
        image,
        '--',
        'sh',
        '-c',
        'env | sort',
      ],
      { env: { ...process.env, FROM_HOST: 'passed', NOT_SET_HERE: undefined } },
    )
    expect(r.code).toBe(0)
    const lines = r.stdout.split('\n')
    expect(lines).toEqual(expect.arrayContaining(['GREETING=a=b', 'PATH=/bin', 'FROM_HOST=passed', 'HOSTNAME=envy']))
    expect(lines.filter((l) => l.startsWith('PATH=') || l.startsWith('HOSTNAME='))).toHaveLength(2)
    expect(lines.some((l) => l.startsWith('NOT_SET_HERE'))).toBe(false)
  })

  it('a command missing from the image fails with one line, exit 1, and leaves no snapshot or mount', async (ctx) => {
    const image = requireRuntime(ctx)
    expect((await strata('--driver', driver, 'import', image)).code).toBe(0)
    const before = await snapshotNames()
    const r = await strata('run', '--name', 'bad', 'latest', '--', 'no-such-command')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^strata run: ERR_NOT_FOUND: command "no-such-command" is not an executable file in the image[^\n]*\n$/)
    expect(await snapshotNames()).toEqual(before)
    expect(await leftoverMounts()).toEqual([])
  })
})

describe('strata run REF from a registry', () => {
  it('strata run REF pulls the missing image; commit-container + push is read back by skopeo + umoci; a second push sends no layer bytes', async (ctx) => {
    const busybox = requireRuntime(ctx)
    for (const tool of ['skopeo', 'docker-registry']) requireTool(ctx, tool)
    const registry = await startRegistry()
    ctx.onTestFinished(() => registry.stop())
    await skopeoPush(busybox, 'latest', `${registry.host}/library/busybox:latest`)
    const strata = (...args: string[]) => strataCli(['--root', root, '--driver', 'overlay', ...args])
    const ref = `${registry.host}/library/busybox:latest`
    const ran = await strata('run', '--name', 'c1', ref, '--', 'sh', '-c', 'echo made here > /hello; rm /etc/passwd; mkdir -p /srv/a')
    expect(ran.code, ran.stderr).toBe(0)
    const images = JSON.parse((await strata('--json', 'images')).stdout) as Array<{ tag: string }>
    expect(images.map((i) => i.tag)).toContain(ref)
    const committed = await strata('--json', 'commit-container', 'c1', '--tag', 'mine')
    expect(committed.code, committed.stderr).toBe(0)
    const { chainId } = JSON.parse(committed.stdout) as { chainId: string }
    const dest = `${registry.host}/made/busybox:mine`
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
    const plain = await strata('push', 'mine', `${registry.host}/made/busybox:again`)
    expect(plain.stdout).toBe(`${registry.host}/made/busybox@${first.digest}\n`)
    expect(plain.stderr).toContain('layers: 2 present, 0 mounted, 0 copied, 0 uploaded')
  })
})

describe('strata run: bad input', () => {
  it('an unknown image is ERR_NOT_FOUND in one line, exit 1, and makes nothing', async (ctx) => {
    requireRuntime(ctx)
    await strata('--driver', 'native', 'ls')
    const r = await strata('run', 'no-such-image', '--', 'sh')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^strata run: ERR_NOT_FOUND: image "no-such-image" does not exist[^\n]*\n$/)
    expect(await snapshotNames()).toEqual([])
  })

  it('without runc or crun on PATH, and without root, it fails in one line with exit 1', async (ctx) => {
    requireRuntime(ctx)
    const noRuntime = await strataCli(['--root', root, 'run', 'x', '--', 'sh'], { env: { ...process.env, PATH: '/nonexistent' } })
    expect(noRuntime.code).toBe(1)
    expect(noRuntime.stderr).toMatch(/^strata run: ERR_FAILED_PRECONDITION: no OCI runtime[^\n]*\n$/)
    const notRoot = await strataCli(['--root', root, 'run', 'x', '--', 'sh'], { uid: 65534, gid: 65534 })
    expect(notRoot.code).toBe(1)
    expect(notRoot.stderr).toBe('strata run: ERR_FAILED_PRECONDITION: running a container needs root (mounts and namespaces)\n')
  })

  it('usage mistakes exit 2', async () => {
    expect((await strata('run')).code).toBe(2)
    const nameless = await strata('run', '-e', '=x', 'img', '--', 'sh')
    expect(nameless).toMatchObject({ code: 2, stderr: expect.stringContaining('--env "=x": a variable needs a name') })
    expect((await strata('commit-container', 'c1')).code).toBe(2)
    expect((await strata('run', '--help')).stdout).toContain('usage: strata run [--name NAME] [--rm] [-e NAME=VALUE]... IMAGE')
  })
})
