/**
 * One process per store, for real: LevelDB on disk, child processes that
 * hold or try the store, SIGKILL. A failed second open in this process must
 * not drop the lock (POSIX record locks are per process), a waiting open
 * gets the store once its holder lets go, and a killed holder never blocks.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { readFile, rm, symlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { once } from 'node:events'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openSnapshotter } from '../index.js'
import { HOLDER_FILE, type Holder } from '../core/storelock.js'
import { strataCli } from './helpers/cli.js'
import { drivers, tempDir } from './helpers/tools.js'

const entry = resolve('dist/index.js')
let root: string
const children: ChildProcess[] = []

beforeEach(async () => {
  root = await tempDir('lock')
})
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await rm(root, { recursive: true, force: true })
})

/** A child that opens the store, prints "held", and closes it after `holdMs` (or when killed). */
async function holder(driver: string, holdMs: number): Promise<ChildProcess> {
  const script = `const { openSnapshotter } = await import(${JSON.stringify(entry)});
    const sn = await openSnapshotter(${JSON.stringify(driver)}, ${JSON.stringify(root)});
    process.stdout.write('held\\n');
    setTimeout(() => sn.close(), ${holdMs});`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  children.push(child)
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer]
  expect(chunk.toString()).toBe('held\n')
  return child
}

/** What a child's open of the store answers: "opened" or the error code. */
async function childOpen(driver: string): Promise<string> {
  const script = `const { openSnapshotter } = await import(${JSON.stringify(entry)});
    try { const sn = await openSnapshotter(${JSON.stringify(driver)}, ${JSON.stringify(root)}); await sn.close(); process.stdout.write('opened') }
    catch (e) { process.stdout.write(String(e.code)) }`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  await once(child, 'close')
  return out
}

describe.each(drivers())('the lock of a %s store', (driver) => {
  it('still refuses a child after a failed second open here, with the same driver and another', async () => {
    const sn = await openSnapshotter(driver, root)
    try {
      for (const d of [driver, ...drivers().filter((x) => x !== driver)]) {
        await expect(openSnapshotter(d, root)).rejects.toMatchObject({
          code: 'ERR_UNAVAILABLE',
          message: expect.stringContaining(`in use by this process, pid ${process.pid}`),
        })
      }
      expect(await childOpen(driver)).toBe('ERR_UNAVAILABLE')
      await sn.prepare('still-mine') // the first open still works
    } finally {
      await sn.close()
    }
    expect(await childOpen(driver)).toBe('opened')
  })
})

describe('the store lock', () => {
  it('refuses the same root by another path (a symlink) in this process', async () => {
    const sn = await openSnapshotter('native', root)
    try {
      await symlink(root, `${root}-link`)
      await expect(openSnapshotter('native', `${root}-link`)).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' })
      expect(await childOpen('native')).toBe('ERR_UNAVAILABLE')
    } finally {
      await sn.close()
      await rm(`${root}-link`, { force: true })
    }
  })

  it('records the holder beside the lock (pid, command, kind) and removes the record on close', async () => {
    const sn = await openSnapshotter('native', root)
    const h = JSON.parse(await readFile(join(root, HOLDER_FILE), 'utf8')) as Holder
    expect(h).toMatchObject({ pid: process.pid, kind: 'library', command: process.argv.join(' ') })
    expect(Date.parse(h.since)).toBeGreaterThan(Date.parse(h.started) - 1)
    await sn.close()
    await expect(readFile(join(root, HOLDER_FILE))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('a holder killed with SIGKILL never blocks the next open, and its stale record is replaced', async () => {
    const child = await holder('native', 60_000)
    await expect(openSnapshotter('native', root)).rejects.toMatchObject({
      code: 'ERR_UNAVAILABLE',
      message: expect.stringContaining(`pid ${child.pid} `),
    })
    child.kill('SIGKILL')
    await once(child, 'close')
    const sn = await openSnapshotter('native', root) // no wait: the lock went with the process
    const h = JSON.parse(await readFile(join(root, HOLDER_FILE), 'utf8')) as Holder
    expect(h.pid).toBe(process.pid)
    await sn.close()
  })
})

describe('openSnapshotter(…, { wait })', () => {
  it('fails at once without wait, naming the holder; with a wait, opens once the holder lets go', async () => {
    const child = await holder('native', 700)
    const started = Date.now()
    await expect(openSnapshotter('native', root)).rejects.toMatchObject({
      code: 'ERR_UNAVAILABLE',
      holder: { pid: child.pid, kind: 'library' },
    })
    expect(Date.now() - started).toBeLessThan(500)
    const sn = await openSnapshotter('native', root, { wait: 10_000 })
    expect(Date.now() - started).toBeGreaterThan(400)
    await sn.close()
  })

  it('gives up after the wait with ERR_UNAVAILABLE naming the holder and the time waited', async () => {
    const child = await holder('native', 60_000)
    const started = Date.now()
    await expect(openSnapshotter('native', root, { wait: 300 })).rejects.toMatchObject({
      code: 'ERR_UNAVAILABLE',
      message: expect.stringMatching(new RegExp(`in use by pid ${child.pid} .*waited [\\d.]+ m?s`)),
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(300)
  })

  it('rejects a wait that is not a non-negative number with ERR_INVALID_ARGUMENT', async () => {
    for (const wait of [-1, '5s', Number.NaN]) {
      await expect(openSnapshotter('native', root, { wait })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    }
  })
})

describe('strata --wait / --no-wait', () => {
  const strata = (...args: string[]) => strataCli(['--root', root, '--driver', 'native', ...args])

  it('--no-wait fails at once naming the holder; --wait 300ms gives up; the default waits and answers', async () => {
    const child = await holder('native', 600_000)
    const none = await strata('--no-wait', 'ls')
    expect(none.code).toBe(1)
    expect(none.stderr).toMatch(new RegExp(`^strata ls: ERR_UNAVAILABLE: store .* in use by pid ${child.pid} \\(library: `))
    const short = await strata('--wait', '300ms', 'ls')
    expect(short.code).toBe(1)
    expect(short.stderr).toMatch(/waited [\d.]+ m?s/)
    const waiting = strata('ls')
    setTimeout(() => child.kill('SIGKILL'), 1000) // the holder dies while ls waits
    const waited = await waiting
    expect(waited).toMatchObject({ code: 0, stderr: '' }) // not a terminal: no waiting line
    expect(waited.stdout).toMatch(/^KEY/)
  })

  it('refuses a malformed --wait and --wait with --no-wait as usage errors', async () => {
    expect((await strata('--wait', 'soon', 'ls')).code).toBe(2)
    expect((await strata('--wait', '1s', '--no-wait', 'ls')).code).toBe(2)
  })
})

describe('a root held by strata serve', () => {
  it('records kind serve and its socket, so a refused command names both; a second serve fails at once', async () => {
    const socket = join(root, '..', `${root.split('/').pop()}.sock`)
    const serve = spawn(
      process.execPath,
      [resolve('dist/cli/main.js'), '--root', root, '--driver', 'native', 'serve', '--socket', socket],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    children.push(serve)
    let log = ''
    serve.stderr!.on('data', (c: Buffer) => (log += c.toString()))
    await expect.poll(() => log, { timeout: 10_000 }).toContain('serving')
    const h = JSON.parse(await readFile(join(root, HOLDER_FILE), 'utf8')) as Holder
    expect(h).toMatchObject({ pid: serve.pid, kind: 'serve', socket })
    const ls = await strataCli(['--root', root, '--no-wait', 'ls'])
    expect(ls.code).toBe(1)
    expect(ls.stderr).toContain(`in use by pid ${serve.pid} (serve: `)
    expect(ls.stderr).toContain(`serving ${socket}`)
    const started = Date.now()
    const second = await strataCli(['--root', root, 'serve', '--socket', `${socket}2`])
    expect(second.code).toBe(1)
    expect(Date.now() - started).toBeLessThan(5000)
    serve.kill('SIGTERM')
    await once(serve, 'close')
  })
})
