/**
 * strata's server of containerd's Snapshots service, spoken to over its unix
 * socket with the same .proto containerd uses: statuses containerd's errdefs
 * reads back, Update's field mask, List's stream and filters, the socket's
 * mode and the stale-socket rule, and a close that waits for calls in flight.
 * Real native stores in temp dirs (no root needed).
 */
import { stat, writeFile, rm } from 'node:fs/promises'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openSnapshotter, type Snapshotter } from '../index.js'
import { createLogger, serveSnapshotter, type ServeHandle } from '../serve/index.js'
import { strataCli } from './helpers/cli.js'
import { SnapshotsClient } from './helpers/grpc.js'
import { tempDir } from './helpers/tools.js'

const NOT_FOUND = 5
const ALREADY_EXISTS = 6
const FAILED_PRECONDITION = 9
const INVALID_ARGUMENT = 3
const UNAVAILABLE = 14
const UNIMPLEMENTED = 12

let dir: string
let sn: Snapshotter
let handle: ServeHandle
let client: SnapshotsClient
let logged: string[]

beforeEach(async () => {
  dir = await tempDir('serve-grpc')
  sn = await openSnapshotter('native', join(dir, 'store'))
  logged = []
  const stream = new PassThrough()
  stream.on('data', (c: Buffer) => logged.push(...c.toString('utf8').split('\n').filter(Boolean)))
  handle = await serveSnapshotter(sn, { socket: join(dir, 'run/sub/strata.sock'), log: createLogger({ format: 'json', stream }) })
  client = new SnapshotsClient(handle.socket)
})

afterEach(async () => {
  client.close()
  await handle.close({ force: true })
  await sn.close()
  await rm(dir, { recursive: true, force: true })
})

describe('strata serve over gRPC', () => {
  it('makes the socket 0600 in a directory it creates', async () => {
    expect((await stat(handle.socket)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'run/sub'))).isDirectory()).toBe(true)
  })

  it("prepare, commit, stat, mounts and usage answer in containerd's messages", async () => {
    const prepared = await client.call<{ mounts: Array<{ type: string; source: string; options: string[] }> }>('Prepare', {
      key: 'a',
      parent: '',
      labels: { 'containerd.io/snapshot/x': '1' },
    })
    expect(prepared.mounts).toHaveLength(1)
    expect(prepared.mounts[0]).toMatchObject({ type: 'bind', options: expect.arrayContaining(['rbind', 'rw']) })
    await client.call('Commit', { name: 'c', key: 'a', labels: { l: 'v' } })
    const { info } = await client.call<{
      info: { name: string; parent: string; kind: string; labels: object; created_at: { seconds: number } }
    }>('Stat', { key: 'c' })
    expect(info).toMatchObject({ name: 'c', parent: '', kind: 'COMMITTED', labels: { l: 'v' } })
    expect(Math.abs(info.created_at.seconds - Date.now() / 1000)).toBeLessThan(60)
    await client.call('Prepare', { key: 'b', parent: 'c' })
    expect((await client.call<{ info: { parent: string; kind: string } }>('Stat', { key: 'b' })).info).toMatchObject({
      parent: 'c',
      kind: 'ACTIVE',
    })
    const usage = await client.call<{ size: number; inodes: number }>('Usage', { key: 'c' })
    expect(usage.inodes).toBeGreaterThanOrEqual(1)
    const mounts = await client.call<{ mounts: unknown[] }>('Mounts', { key: 'b' })
    expect(mounts.mounts).toEqual((await sn.mounts('b')).map((m) => ({ ...m, target: '' })))
  })

  it("answers each typed error with the gRPC code containerd's errdefs reads back", async () => {
    await client.call('Prepare', { key: 'a' })
    await client.call('Commit', { name: 'c', key: 'a' })
    await client.call('View', { key: 'v', parent: 'c' })
    await client.call('Prepare', { key: 'b', parent: 'c' })
    expect(await client.codeOf('Stat', { key: 'missing' })).toBe(NOT_FOUND)
    expect(await client.codeOf('Prepare', { key: 'x', parent: 'missing' })).toBe(NOT_FOUND)
    expect(await client.codeOf('Prepare', { key: 'c' })).toBe(ALREADY_EXISTS)
    expect(await client.codeOf('Commit', { name: 'c2', key: 'v' })).toBe(FAILED_PRECONDITION)
    expect(await client.codeOf('Mounts', { key: 'c' })).toBe(FAILED_PRECONDITION)
    expect(await client.codeOf('Remove', { key: 'c' })).toBe(FAILED_PRECONDITION)
    expect(await client.codeOf('Prepare', { key: 'y', parent: 'v' })).toBe(INVALID_ARGUMENT)
    expect(await client.codeOf('Prepare', { key: '' })).toBe(INVALID_ARGUMENT)
    expect(await client.codeOf('Update', { info: { name: 'c' }, update_mask: { paths: ['parent'] } })).toBe(INVALID_ARGUMENT)
    // containerd 2's rebase at commit: the parent the snapshot has is fine, another is not, a new one is unsupported.
    await client.call('Prepare', { key: 'p' })
    expect(await client.codeOf('Commit', { name: 'c3', key: 'b', parent: 'other' })).toBe(INVALID_ARGUMENT)
    expect(await client.codeOf('Commit', { name: 'c4', key: 'p', parent: 'c' })).toBe(UNIMPLEMENTED)
    expect(await client.codeOf('Commit', { name: 'c3', key: 'b', parent: 'c' })).toBe(0)
    await sn.close()
    expect(await client.codeOf('Stat', { key: 'c' })).toBe(UNAVAILABLE)
  })

  it('writes one log line per failed call, naming the method, key and code', async () => {
    await client.codeOf('Stat', { key: 'no such key' })
    await client.codeOf('Prepare', { key: 'k', parent: 'absent' })
    const lines = logged.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', method: 'Stat', key: 'no such key', code: 'ERR_NOT_FOUND' }),
      expect.objectContaining({ level: 'warn', method: 'Prepare', key: 'k', code: 'ERR_NOT_FOUND' }),
    ])
  })

  it('update honours the field mask: labels.K sets or deletes K, labels replaces, none replaces', async () => {
    await client.call('Prepare', { key: 'a', labels: { keep: '1', drop: '2', change: '3' } })
    type R = { info: { labels: Record<string, string> } }
    let r = await client.call<R>('Update', {
      info: { name: 'a', labels: { change: 'new', added: 'not named' } },
      update_mask: { paths: ['labels.change', 'labels.drop'] },
    })
    expect(r.info.labels).toEqual({ keep: '1', change: 'new' })
    r = await client.call<R>('Update', { info: { name: 'a', labels: { only: 'this' } }, update_mask: { paths: ['labels'] } })
    expect(r.info.labels).toEqual({ only: 'this' })
    r = await client.call<R>('Update', { info: { name: 'a', labels: { x: 'y' } } })
    expect(r.info.labels).toEqual({ x: 'y' })
    expect((await sn.stat('a')).labels).toEqual({ x: 'y' })
  })

  it("list streams every snapshot in batches and applies containerd's filters", async () => {
    await client.call('Prepare', { key: 'base' })
    await client.call('Commit', { name: 'sha256:base', key: 'base', labels: { 'containerd.io/snapshot/tag': 'yes' } })
    for (let i = 0; i < 230; i++) await sn.prepare(`ctr-${i}`, 'sha256:base')
    const all = await client.list()
    expect(all.infos).toHaveLength(231)
    expect(all.messages).toBeGreaterThan(2)
    expect((await client.list(['kind==committed'])).infos.map((i) => i.name)).toEqual(['sha256:base'])
    expect((await client.list(['labels."containerd.io/snapshot/tag"==yes'])).infos.map((i) => i.name)).toEqual(['sha256:base'])
    expect((await client.list(['name==ctr-7', 'name~=^ctr-22[0-9]$'])).infos).toHaveLength(11)
    expect((await client.list(['parent==sha256:base,name==ctr-1'])).infos.map((i) => i.name)).toEqual(['ctr-1'])
    await expect(client.list(['name=='])).rejects.toMatchObject({ code: INVALID_ARGUMENT })
  })

  it('close() stops listening at once and resolves only after the call in flight has finished', async () => {
    await sn.prepare('a', undefined)
    // The same native store, its commit held until the test lets it go, so
    // the call is surely running on the server when close() starts.
    let release = (): void => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const held: Snapshotter = Object.create(sn, {
      commit: {
        value: async (name: string, key: string) => {
          await gate
          return sn.commit(name, key)
        },
      },
    })
    const socket = join(dir, 'held.sock')
    const server = await serveSnapshotter(held, { socket })
    const other = new SnapshotsClient(socket)
    const commit = other.call('Commit', { name: 'c', key: 'a' })
    await expect.poll(() => server.inFlight).toBe(1)
    let closed = false
    const closing = server.close().then(() => {
      closed = true
    })
    await new Promise((r) => setTimeout(r, 50))
    // No new connections from here on, but close() waits for the commit.
    expect(closed).toBe(false)
    expect(server.inFlight).toBe(1)
    release()
    await commit
    await closing
    other.close()
    expect((await sn.stat('c')).kind).toBe('committed')
    await expect(stat(socket)).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('replaces a stale socket file, refuses a live one with ERR_UNAVAILABLE and a non-socket with ERR_INVALID_ARGUMENT', async () => {
    await expect(serveSnapshotter(sn, { socket: handle.socket })).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' })
    // A process killed while listening leaves its socket file behind, answering nobody.
    const stale = join(dir, 'stale.sock')
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`,
    ])
    await new Promise<void>((r) => child.stdout.once('data', () => r()))
    child.kill('SIGKILL')
    await new Promise<void>((r) => child.once('exit', () => r()))
    expect((await stat(stale)).isSocket()).toBe(true)
    const second = await serveSnapshotter(sn, { socket: stale })
    const other = new SnapshotsClient(stale)
    expect(await other.codeOf('Stat', { key: 'missing' })).toBe(NOT_FOUND)
    other.close()
    await second.close()
    const file = join(dir, 'plain-file')
    await writeFile(file, 'not a socket')
    await expect(serveSnapshotter(sn, { socket: file })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    await expect(serveSnapshotter(sn, { socket: 'relative.sock' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
  })

  it('strata serve without --socket, or with an unknown --log-format, is a usage error (exit 2)', async () => {
    const root = join(dir, 'cli-root')
    const missing = await strataCli(['--root', root, 'serve'])
    expect(missing).toMatchObject({ code: 2, stderr: 'strata serve: --socket PATH is required\n' })
    const format = await strataCli(['--root', root, 'serve', '--socket', join(dir, 'cli.sock'), '--log-format', 'xml'])
    expect(format.code).toBe(2)
    expect(format.stderr).toMatch(/--log-format is text or json/)
  })
})
