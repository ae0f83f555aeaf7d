/**
 * Many strata processes on one root, for real (root, runc, a busybox image
 * built by umoci): ten `strata run --rm` started at once all succeed while
 * `ps` and `ls` keep answering and `ps` shows them running; `ls` and `ps`
 * beside a large import wait for it and answer.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, beforeEach, describe, expect, it, type TestContext } from 'vitest'
import { hasTool, requireRoot, requireTool } from './helpers/index.js'
import { buildBusyboxImage } from './helpers/busybox.js'
import { type CliResult, strataCli } from './helpers/cli.js'
import { run, tempDir } from './helpers/tools.js'

let work: string
let layout: string | undefined
let root: string

beforeAll(async () => {
  work = await tempDir('sidebyside')
  await mkdir(join(work, 'tmp'))
  if (hasTool('umoci') && hasTool('busybox')) layout = await buildBusyboxImage(work)
}, 60_000)
afterAll(() => rm(work, { recursive: true, force: true }))

beforeEach(async () => {
  root = await tempDir('sidebyside-store')
  return () => rm(root, { recursive: true, force: true })
})

function requireImage(ctx: TestContext, what: string): string {
  requireRoot(ctx, what)
  requireTool(ctx, 'runc')
  requireTool(ctx, 'umoci')
  requireTool(ctx, 'busybox')
  return layout!
}

// Our runs' bundles go to a TMPDIR of our own, so the mount checks here and in other test files never see each other's.
const strata = (...args: string[]) => strataCli(['--root', root, ...args], { env: { ...process.env, TMPDIR: join(work, 'tmp') } })

/** Runs `ls` and `ps` one after the other until `done` settles; every answer is kept. */
async function pollBeside(done: Promise<unknown>, driver: string): Promise<CliResult[][]> {
  let finished = false
  void done.finally(() => (finished = true))
  const answers: CliResult[][] = []
  while (!finished) answers.push(await Promise.all([strata('--driver', driver, 'ls'), strata('--driver', driver, '--json', 'ps')]))
  return answers
}

async function leftoverMounts(): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8')
  return info
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(join(work, 'tmp')) || p.startsWith(root))
}

describe.each(['native', 'overlay'])('side by side on a %s root', (driver) => {
  it('ten strata run --rm started at once all succeed while ls and ps answer and ps shows them running', async (ctx) => {
    const image = requireImage(ctx, 'strata run')
    expect((await strata('--driver', driver, 'import', image, '--tag', 'busybox')).code).toBe(0)
    const runs = Array.from({ length: 10 }, () =>
      strata('--driver', driver, 'run', '--rm', 'busybox', '--', 'sh', '-c', 'echo $$ > /x; sleep 2; cat /x'),
    )
    const answers = await pollBeside(Promise.all(runs), driver)
    for (const r of await Promise.all(runs)) {
      expect(r, r.stderr).toMatchObject({ code: 0, stdout: '1\n' })
    }
    expect(answers.length).toBeGreaterThan(0)
    for (const [ls, ps] of answers) {
      expect(ls.code, ls.stderr).toBe(0)
      expect(ps.code, ps.stderr).toBe(0)
    }
    const statuses = answers.flatMap(([, ps]) => (JSON.parse(ps.stdout) as Array<{ status: string }>).map((c) => c.status))
    expect(statuses).toContain('running')
    expect(statuses).not.toContain('interrupted')
    expect(JSON.parse((await strata('--json', 'ps')).stdout)).toEqual([])
    expect(await leftoverMounts()).toEqual([])
  }, 60_000)
})

/** An OCI layout of one layer holding `mib` MiB of random bytes (it does not compress). */
async function largeImage(mib: number): Promise<string> {
  const dir = join(work, `large-${mib}`)
  const bundle = join(work, `large-bundle-${mib}`)
  await run('umoci', ['init', '--layout', dir])
  await run('umoci', ['new', '--image', `${dir}:latest`])
  await run('umoci', ['unpack', '--rootless', '--image', `${dir}:latest`, bundle])
  await mkdir(join(bundle, 'rootfs/data'), { recursive: true })
  for (let i = 0; i < mib / 8; i++) await writeFile(join(bundle, `rootfs/data/blob-${i}`), randomBytes(8 << 20))
  await run('umoci', ['repack', '--image', `${dir}:latest`, bundle])
  await rm(bundle, { recursive: true })
  return dir
}

describe('beside an import', () => {
  it('every ls and ps run during a large import waits and answers', async (ctx) => {
    requireTool(ctx, 'umoci')
    const image = await largeImage(96)
    const importing = strata('--driver', 'native', 'import', image, '--tag', 'large')
    const answers = await pollBeside(importing, 'native')
    expect((await importing).code, (await importing).stderr).toBe(0)
    expect(answers.length).toBeGreaterThan(0)
    for (const [ls, ps] of answers) {
      expect(ls.code, ls.stderr).toBe(0)
      expect(ps.code, ps.stderr).toBe(0)
    }
  }, 60_000)
})
