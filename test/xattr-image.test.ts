/**
 * An image whose top layer GNU tar wrote with xattrs (test/helpers/
 * xattrlayer.ts) on a busybox base, end to end: `strata import` into each
 * driver gives the tree `umoci unpack` gives, xattr for xattr and time for
 * time; a layer carrying trusted.overlay.* imports with one warning line;
 * and the rootfs `strata run` mounts carries security.capability, read from
 * the host with getfattr while the container runs.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest'
import { openSnapshotter, withOpen } from '../index.js'
import { buildBusyboxImage } from './helpers/busybox.js'
import { strataCli } from './helpers/cli.js'
import { hasTool, isRoot, requireRoot, requireTool } from './helpers/index.js'
import { tarOf } from './helpers/tars.js'
import { drivers, run, tempDir } from './helpers/tools.js'
import { buildXattrLayer, hostTreeView, XATTR_PATHS, type TreeView } from './helpers/xattrlayer.js'

let work: string
let layout: string
/** What umoci unpack made of the image. */
let umociView: TreeView
const TOOLS = ['umoci', 'busybox', 'setcap', 'setfattr', 'getfattr', 'runc']

beforeAll(async () => {
  work = await tempDir('xattr-image')
  if (!isRoot || !TOOLS.every(hasTool)) return
  layout = await buildBusyboxImage(work)
  await buildXattrLayer(work)
  await run('umoci', ['raw', 'add-layer', '--image', `${layout}:latest`, '--tag', 'xattr', join(work, 'xattr-layer.tar')])
  const marked = join(work, 'marked.tar')
  await writeFile(marked, await tarOf([{ name: 'm', type: 'directory', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' } }]))
  await run('umoci', ['raw', 'add-layer', '--image', `${layout}:latest`, '--tag', 'marked', marked])
  const bundle = join(work, 'umoci-bundle')
  await run('umoci', ['unpack', '--image', `${layout}:xattr`, bundle])
  umociView = hostTreeView(join(bundle, 'rootfs'))
}, 120_000)

afterAll(() => rm(work, { recursive: true, force: true }))

function requireAll(ctx: TestContext): void {
  requireRoot(ctx, 'setcap, trusted.* xattrs and umoci unpack')
  for (const t of TOOLS) requireTool(ctx, t)
}

describe.each(drivers())('%s: an image with xattrs', (driver) => {
  it('strata import agrees with umoci unpack on every xattr and time; the CLI warns of nothing', async (ctx) => {
    requireAll(ctx)
    const root = await tempDir(`xattr-store-${driver}`)
    ctx.onTestFinished(() => rm(root, { recursive: true, force: true }))
    const r = await strataCli(['--root', root, '--driver', driver, '--json', 'import', '--ref', 'xattr', layout])
    expect(r.code).toBe(0)
    expect(r.stderr).not.toMatch(/warning/)
    const top = (JSON.parse(r.stdout) as { chainIds: string[]; dropped: object }).chainIds.at(-1)!
    expect(JSON.parse(r.stdout)).toMatchObject({ dropped: { xattrs: 0, devices: 0 } })
    const sn = await openSnapshotter(driver, root)
    try {
      const view: TreeView = await withOpen(sn, top, async (fs) => {
        const out: TreeView = {}
        for (const p of XATTR_PATHS) {
          const xattrs: Record<string, string> = {}
          for (const n of await fs.listxattr(p)) xattrs[n] = (await fs.getxattr(p, n)).toString('hex')
          out[p] = { xattrs, mtimeNs: (await fs.lstat(p)).mtimeNs }
        }
        return out
      })
      expect(view).toEqual(umociView)
      expect(view['/opt/cap/ping'].xattrs['security.capability']).toHaveLength(40)
    } finally {
      await sn.close()
    }
  }, 60_000)

  it('a layer with trusted.overlay.* imports without it, and strata import prints one warning line', async (ctx) => {
    requireAll(ctx)
    const root = await tempDir(`xattr-store-${driver}`)
    ctx.onTestFinished(() => rm(root, { recursive: true, force: true }))
    const r = await strataCli(['--root', root, '--driver', driver, 'import', '--ref', 'marked', layout])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('strata import: warning: not kept: 1 extended attributes, 0 device nodes\n')
  }, 60_000)
})

describe.each(['native', 'overlay'])('strata run with the %s driver', (driver) => {
  it("the container's mounted rootfs carries security.capability, as getfattr -h reads it from the host", async (ctx) => {
    requireAll(ctx)
    const root = await tempDir(`xattr-run-${driver}`)
    ctx.onTestFinished(() => rm(root, { recursive: true, force: true }))
    expect((await strataCli(['--root', root, '--driver', driver, 'import', '--ref', 'xattr', '--tag', 'xa', layout])).code).toBe(0)
    const proc = spawn(
      process.execPath,
      [resolve('dist/cli/main.js'), '--root', root, '--driver', driver, 'run', '--rm', 'xa', '--', 'sleep', '4'],
      {
        stdio: 'ignore',
      },
    )
    const exited = new Promise<number | null>((r) => proc.once('close', r))
    ctx.onTestFinished(() => {
      proc.kill('SIGKILL')
    })
    let rootfs = ''
    for (let i = 0; i < 100 && rootfs === ''; i++) {
      await new Promise((r) => setTimeout(r, 100))
      const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '')
      // Other tests may run containers meanwhile: ours is the rootfs holding the layer's binary.
      rootfs = mounts.find((m) => m.includes('strata-run-') && m.endsWith('/rootfs') && existsSync(join(m, 'opt/cap/ping'))) ?? ''
    }
    expect(rootfs, 'the run mounted no rootfs').not.toBe('')
    const out = execFileSync('getfattr', [
      '-h',
      '-n',
      'security.capability',
      '-e',
      'hex',
      '--absolute-names',
      join(rootfs, 'opt/cap/ping'),
    ]).toString()
    expect(out).toContain(`security.capability=0x${umociView['/opt/cap/ping'].xattrs['security.capability']}`)
    expect(await exited).toBe(0)
  }, 60_000)
})
