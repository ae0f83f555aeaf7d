/**
 * The checks `npm test` runs before vitest are shown to fail: a deliberate
 * violation of the import arrows fails scripts/check-arch.mjs, and a floating
 * promise fails Biome's lint. Each runs on a small tree of its own in a temp
 * directory, so the repository itself is never touched.
 */
import { spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const repo = resolve('.')
let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-tooling-'))
})
afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function tree(files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true })
    await writeFile(join(dir, path), text)
  }
}

function checkArch(root: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(repo, 'scripts/check-arch.mjs'), root], { encoding: 'utf8' })
  return { status: r.status, out: r.stdout + r.stderr }
}

describe('check-arch', () => {
  it('passes on the repository', () => {
    expect(checkArch(repo)).toMatchObject({ status: 0 })
  })

  it('fails when core imports a driver, a driver another driver, or anything imports cli/', async () => {
    await tree({
      'core/a.ts': "import { x } from '../drivers/row/index.js'\n",
      'drivers/row/index.ts': "export const x = 1\nimport '../native/index.js'\n",
      'drivers/native/index.ts': 'export {}\n',
      'layers/b.ts': "import { main } from '../cli/main.js'\n",
      'cli/main.ts': 'export const main = 1\n',
      'fs/ok.ts': "import '../core/a.js'\n",
    })
    const r = checkArch(dir)
    expect(r.status).toBe(1)
    expect(r.out).toContain('core/a.ts: core may not import drivers/row')
    expect(r.out).toContain('drivers/row/index.ts: drivers/row may not import drivers/native')
    expect(r.out).toContain('layers/b.ts: layers may not import cli')
    expect(r.out).not.toContain('fs/ok.ts')
  })
})

describe('biome lint', () => {
  it('fails on a floating promise with the project configuration', async () => {
    // The project's own rules, on a tree outside the repository (no VCS there to read ignores from).
    const config = JSON.parse(await readFile(join(repo, 'biome.json'), 'utf8')) as Record<string, unknown>
    config.$schema = undefined
    config.vcs = { enabled: false }
    await tree({
      'biome.json': JSON.stringify(config),
      'floating.ts': 'async function work(): Promise<void> {}\nexport function go(): void {\n  work()\n}\n',
    })
    const r = spawnSync(join(repo, 'node_modules/.bin/biome'), ['lint', 'floating.ts'], { cwd: dir, encoding: 'utf8' })
    expect(r.status).not.toBe(0)
    expect(r.stdout + r.stderr).toContain('noFloatingPromises')
  })
})
