/**
 * The crash group: a child process runs random operations on a store and is
 * killed with SIGKILL at a random moment; the parent reopens the store and
 * checks that every record's data exists, that nothing exists without a
 * record, and that every committed snapshot holds exactly what it held.
 */
import { readdir, lstat } from 'node:fs/promises'
import { join } from 'node:path'
import { defineCases } from '../case.js'
import { assert, collect } from '../assert.js'
import { collectChild, spawnChild } from '../child-process.js'
import type { CaseContext, SuiteOptions } from '../context.js'
import { actualFiles, expectedFiles, prng } from '../crash-model.js'
import type { Checkable, Snapshotter } from '../../core/snapshotter.js'

export function crashIterations(opts: SuiteOptions): number {
  return opts.crashIterations ?? Number(process.env.STRATA_CRASH_ITERATIONS ?? 20)
}

/** Starts the workload, waits for "ready", lets it run a random while, kills it. */
async function runAndKill(t: CaseContext, seed: number, delayMs: number): Promise<void> {
  const child = spawnChild(t.options.child!, ['crash', t.root, String(seed)])
  const done = collectChild(child)
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('ready')) resolve()
    })
    child.on('close', () => {
      done.then(
        (r) =>
          reject(new Error(`the crash child ended before it was ready (code ${r.code}, signal ${r.signal}): ${r.stderr.slice(0, 2000)}`)),
        reject,
      )
    })
  })
  await new Promise((r) => setTimeout(r, delayMs))
  child.kill('SIGKILL')
  const result = await done
  if (result.signal !== 'SIGKILL') {
    throw new Error(`the crash child ended by itself (code ${result.code}): ${result.stderr.slice(0, 2000)}`)
  }
}

/** Everything the parent checks after a crash. */
async function verify(t: CaseContext, sn: Snapshotter, iteration: number): Promise<void> {
  const where = `after crash ${iteration}`
  const infos = await collect(sn.walk())
  const names = new Set(infos.map((i) => i.name))
  for (const info of infos) {
    assert.deepStrictEqual(await sn.stat(info.name), info, `${where}: stat of ${info.name}`)
    if (info.name.startsWith('a')) assert.ok(!names.has(`c${info.name.slice(1)}`), `${where}: ${info.name} and its commit both exist`)
    if (info.kind === 'committed') {
      const want = await expectedFiles(sn, info.name)
      const key = `check-${info.name}`
      await sn.view(key, info.name)
      const got = await t.withFs(sn, key, actualFiles)
      await sn.remove(key)
      const wantKeys = [...want.keys()].sort()
      assert.deepStrictEqual([...got.keys()].sort(), wantKeys, `${where}: files of ${info.name}`)
      for (const p of wantKeys) assert.ok(got.get(p)!.equals(want.get(p)!), `${where}: content of ${p} in ${info.name}`)
    } else {
      assert.ok((await sn.mounts(info.name)).length >= 1, `${where}: mounts of ${info.name}`)
      await t.withFs(sn, info.name, (fs) => fs.readdir('/'))
      await sn.usage(info.name)
    }
  }
  const check = (sn as Partial<Checkable>).check
  if (typeof check === 'function') {
    const report = await check.call(sn)
    assert.deepStrictEqual(report.missing, [], `${where}: records without data: ${report.problems.join('; ')}`)
    assert.deepStrictEqual(report.orphans, [], `${where}: data without records after open's cleanup`)
  }
}

/** Removes every snapshot, leaves first. */
async function removeAll(sn: Snapshotter): Promise<void> {
  for (;;) {
    const infos = await collect(sn.walk())
    if (infos.length === 0) return
    const parents = new Set(infos.map((i) => i.parent))
    for (const i of infos) if (!parents.has(i.name)) await sn.remove(i.name)
  }
}

/** Files, links and devices left outside the metadata database. */
async function leftovers(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = []
  for (const name of await readdir(dir)) {
    const path = join(dir, name)
    const r = rel === '' ? name : `${rel}/${name}`
    if (r === 'meta') continue
    const st = await lstat(path)
    if (st.isDirectory()) out.push(...(await leftovers(path, r)))
    else out.push(r)
  }
  return out
}

async function crashLoop(t: CaseContext): Promise<void> {
  if (!t.options.child) t.skip('no child spec given: the driver cannot be started in another process')
  const iterations = crashIterations(t.options)
  const seed = Number(process.env.STRATA_CRASH_SEED ?? Date.now() % 1e9)
  const rand = prng(seed)
  for (let i = 0; i < iterations; i++) {
    const delay = Math.floor(rand() * 400)
    try {
      await runAndKill(t, Math.floor(rand() * 2 ** 31), delay)
      const sn = await t.make()
      try {
        await verify(t, sn, i)
      } finally {
        await sn.close()
      }
    } catch (err) {
      ;(err as Error).message = `crash seed ${seed}, iteration ${i} (kill after ${delay} ms): ${(err as Error).message}`
      throw err
    }
  }
  const sn = await t.make()
  await removeAll(sn)
  await sn.cleanup()
  const check = (sn as Partial<Checkable>).check
  if (typeof check === 'function') assert.deepStrictEqual((await check.call(sn)).orphans, [])
  await sn.close()
  assert.deepStrictEqual(await leftovers(t.root), [], 'once every snapshot is removed, no data is left')
}

export const crashCases = defineCases('crash', [
  {
    name: 'after SIGKILL at random moments, every record has its data, no data lacks a record, committed snapshots are intact',
    timeout: 0,
    run: crashLoop,
  },
])
