import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import tarStream from 'tar-stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { sha256Digest } from '../index.js'
import { requireTool } from './helpers/index.js'
import { buildBusyboxImage } from './helpers/busybox.js'
import { strataCli } from './helpers/cli.js'
import { tarOf } from './helpers/tars.js'

const run = promisify(execFile)
const main = resolve('dist/cli/main.js')
let root: string

async function strata(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [main, '--root', root, ...args])
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'strata-cli-'))
})
afterEach(() => rm(root, { recursive: true, force: true }))

describe('strata CLI', () => {
  it('runs the snapshot lifecycle and lists it as a table, a tree and JSON', async () => {
    expect((await strata('--driver', 'native', 'prepare', 'layer-1')).code).toBe(0)
    expect((await strata('commit', 'base', 'layer-1', '--label', 'tier=gold')).code).toBe(0)
    expect((await strata('prepare', 'ctr', 'base')).stdout).toMatch(/^mount -t bind \S+ <target> -o rbind,rw$/m)
    const ls = await strata('ls')
    expect(ls.stdout.split('\n')[0]).toMatch(/^KEY\s+PARENT\s+KIND$/)
    expect(ls.stdout).toMatch(/^ctr\s+base\s+active$/m)
    expect((await strata('tree')).stdout).toContain('└── base (committed)\n    └── ctr (active)')
    const json = JSON.parse((await strata('--json', 'ls', '--filter', 'labels.tier==gold')).stdout)
    expect(json.map((i: { name: string }) => i.name)).toEqual(['base'])
    expect(JSON.parse((await strata('info', 'ctr')).stdout)).toMatchObject({ name: 'ctr', parent: 'base', kind: 'active' })
    expect((await strata('label', 'ctr', 'a=1', 'b=2')).stdout).toBe('a=1\nb=2\n')
    expect((await strata('label', 'ctr', 'a=')).stdout).toBe('b=2\n')
    expect((await strata('usage', 'ctr')).stdout).toMatch(/^ctr\s+\S+ \S+\s+1$/m)
    expect((await strata('check')).stdout).toBe('ok\n')
    expect((await strata('rm', 'ctr', 'base')).code).toBe(0)
    expect((await strata('ls')).stdout.trim()).toBe('KEY  PARENT  KIND')
  })

  it('remembers the driver of a root and refuses another', async () => {
    await strata('--driver', 'native', 'prepare', 'a')
    const r = await strata('--driver', 'overlay', 'ls')
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('holds a native store')
  })

  it('exits 1 with one line naming the key and the code on an error', async () => {
    await strata('--driver', 'native', 'ls')
    const r = await strata('info', 'missing-key')
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('strata info: ERR_NOT_FOUND: snapshot "missing-key" does not exist\n')
  })

  it('exits 2 on usage errors and prints help', async () => {
    expect((await strata('prepare')).code).toBe(2)
    expect((await strata('frobnicate')).code).toBe(2)
    expect((await strata('ls', '--bogus')).code).toBe(2)
    const help = await strata('--help')
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('conformance')
    expect((await strata('prepare', '--help')).stdout).toContain('usage: strata prepare KEY [PARENT]')
  })

  it('runs the conformance suite against a third-party module with one line per case', async () => {
    const r = await strata('conformance', 'conformance/examples/cpa', '--filter', 'rules › commit()')
    expect(r.stdout).toMatch(/^ok {4}rules › commit\(\) of a missing key fails with ERR_NOT_FOUND \(\d+ ms\)$/m)
    expect(r.stdout.trim().split('\n').at(-1)).toMatch(/^[1-9]\d* passed, 0 failed$/)
    expect(r.code).toBe(0)
  })

  it('exits 1 from the conformance command when a case fails', async () => {
    const r = await strata('conformance', 'test/fixtures/lying-driver.js', '--filter', 'rules › stat()')
    expect(r.stdout).toMatch(/^FAIL {2}rules › stat\(\), usage\(\) and update\(\) of a missing key/m)
    expect(r.stdout.trim().split('\n').at(-1)).toBe('0 passed, 1 failed')
    expect(r.code).toBe(1)
  })
})

describe('strata CLI: layers and images', () => {
  const cli = (args: string[], input?: Buffer) => strataCli(['--root', root, ...args], input ? { input } : {})

  async function tarNames(tar: Buffer): Promise<string[]> {
    const extract = tarStream.extract()
    const names: string[] = []
    const reading = (async () => {
      for await (const entry of extract) {
        names.push(entry.header.name)
        entry.resume()
      }
    })()
    extract.end(tar)
    await reading
    return names
  }

  it('apply reads a layer from stdin and prints its DiffID and size; diff writes the changes back as a layer', async () => {
    await cli(['--driver', 'native', 'prepare', 'l1'])
    const layer1 = await tarOf([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/a', content: 'a\n' },
      { name: 'etc/b', content: 'b\n' },
    ])
    const applied = await cli(['apply', 'l1'], layer1)
    expect(applied.stdout).toBe(`${sha256Digest(layer1)} ${layer1.length}\n`)
    expect((await cli(['commit', 'base', 'l1'])).code).toBe(0)
    await cli(['prepare', 'l2', 'base'])
    const layer2 = await tarOf([{ name: 'etc/.wh.a' }, { name: 'etc/c', content: 'c\n' }])
    const json = JSON.parse((await cli(['--json', 'apply', 'l2'], layer2)).stdout) as { key: string; diffId: string }
    expect(json).toMatchObject({ key: 'l2', diffId: sha256Digest(layer2) })
    const diff = await cli(['diff', 'l2'])
    expect(diff.code).toBe(0)
    expect(await tarNames(diff.raw)).toEqual(['etc', 'etc/.wh.a', 'etc/c'])
  })

  it('apply to a committed snapshot, and diff of a missing key, fail in one line with exit 1', async () => {
    await cli(['--driver', 'native', 'prepare', 'l1'])
    await cli(['commit', 'base', 'l1'])
    const r = await cli(['apply', 'base'], await tarOf([{ name: 'x', content: 'x' }]))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^strata apply: ERR_FAILED_PRECONDITION: snapshot "base" is committed[^\n]*\n$/)
    const d = await cli(['diff', 'nope'])
    expect(d.code).toBe(1)
    expect(d.stderr).toBe('strata diff: ERR_NOT_FOUND: snapshot "nope" does not exist\n')
  })

  it('import takes an OCI layout quietly when piped, images lists it with its layers and size', async (ctx) => {
    requireTool(ctx, 'umoci')
    requireTool(ctx, 'busybox')
    const layout = await buildBusyboxImage(root)
    const store = join(root, 'store')
    const r = await strataCli(['--root', store, '--driver', 'native', 'import', layout, '--tag', 'bb'])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^bb sha256:[0-9a-f]{64} \(1 layers, 0 reused\)\n$/)
    const again = JSON.parse((await strataCli(['--root', store, '--json', 'import', layout, '--tag', 'bb2'])).stdout) as { reused: number }
    expect(again.reused).toBe(1)
    const table = (await strataCli(['--root', store, 'images'])).stdout
    expect(table).toMatch(/^TAG\s+ID\s+LAYERS\s+SIZE\n/)
    expect(table).toMatch(/^bb\s+[0-9a-f]{12}\s+1\s+\d/m)
    const images = JSON.parse((await strataCli(['--root', store, '--json', 'images'])).stdout) as Array<{ tag: string; size: number }>
    expect(images.map((i) => i.tag)).toEqual(['bb', 'bb2'])
    expect(images[0].size).toBeGreaterThan(500_000)
    const missing = await strataCli(['--root', store, 'import', join(root, 'nothing-here')])
    expect(missing.code).toBe(1)
    expect(missing.stderr.split('\n')).toHaveLength(2)
  })
})
