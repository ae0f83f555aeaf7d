/**
 * Every rule of SPEC.md's Snapshotter and Errors sections as its own case:
 * the error matrix, with a check that a failed call changed nothing.
 */
import { defineCases } from '../case.js'
import { assert, collect, rejects } from '../assert.js'
import type { CaseContext } from '../context.js'
import type { Snapshotter } from '../../core/snapshotter.js'

/** Everything walk() reports, in a comparable form. */
async function state(sn: Snapshotter): Promise<string[]> {
  return (await collect(sn.walk())).map((i) => JSON.stringify(i)).sort()
}

/** Runs a call that must fail with `code`, and checks the store is exactly as before. */
async function failsCleanly(sn: Snapshotter, call: () => Promise<unknown>, code: string, text?: string): Promise<void> {
  const before = await state(sn)
  await rejects(call(), code, text)
  assert.deepStrictEqual(await state(sn), before, 'a failed call must change nothing')
}

/** A committed base 'base', an active 'act' and a view 'vw' on it. */
async function fixture(t: CaseContext): Promise<Snapshotter> {
  const sn = await t.sn()
  await sn.prepare('base-a')
  await sn.commit('base', 'base-a')
  await sn.prepare('act', 'base')
  await sn.view('vw', 'base')
  return sn
}

export const ruleCases = defineCases('rules', [
  {
    name: 'prepare() with a missing parent fails with ERR_NOT_FOUND',
    run: async (t) => {
      const sn = await fixture(t)
      await failsCleanly(sn, () => sn.prepare('x', 'nope'), 'ERR_NOT_FOUND')
      await failsCleanly(sn, () => sn.view('x', 'nope'), 'ERR_NOT_FOUND')
    },
  },
  {
    name: 'prepare() and view() on an active or view parent fail with ERR_INVALID_ARGUMENT',
    run: async (t) => {
      const sn = await fixture(t)
      for (const parent of ['act', 'vw']) {
        await failsCleanly(sn, () => sn.prepare('x', parent), 'ERR_INVALID_ARGUMENT')
        await failsCleanly(sn, () => sn.view('x', parent), 'ERR_INVALID_ARGUMENT')
      }
    },
  },
  {
    name: 'prepare() and view() with a key of any kind already in use fail with ERR_ALREADY_EXISTS',
    run: async (t) => {
      const sn = await fixture(t)
      for (const key of ['base', 'act', 'vw']) {
        await failsCleanly(sn, () => sn.prepare(key), 'ERR_ALREADY_EXISTS')
        await failsCleanly(sn, () => sn.view(key, 'base'), 'ERR_ALREADY_EXISTS')
      }
    },
  },
  {
    name: 'prepare() checks the parent before the key',
    run: async (t) => {
      const sn = await fixture(t)
      await failsCleanly(sn, () => sn.prepare('act', 'nope'), 'ERR_NOT_FOUND')
    },
  },
  {
    name: 'commit() to an existing name fails with ERR_ALREADY_EXISTS and keeps the key active',
    run: async (t) => {
      const sn = await fixture(t)
      await failsCleanly(sn, () => sn.commit('base', 'act'), 'ERR_ALREADY_EXISTS')
      await failsCleanly(sn, () => sn.commit('vw', 'act'), 'ERR_ALREADY_EXISTS')
      assert.equal((await sn.stat('act')).kind, 'active')
    },
  },
  {
    name: 'commit() checks the name before the key',
    run: async (t) => {
      const sn = await fixture(t)
      await failsCleanly(sn, () => sn.commit('base', 'nope'), 'ERR_ALREADY_EXISTS')
    },
  },
  {
    name: 'commit() of a missing key fails with ERR_NOT_FOUND',
    run: async (t) => {
      const sn = await fixture(t)
      await failsCleanly(sn, () => sn.commit('new', 'nope'), 'ERR_NOT_FOUND')
    },
  },
  {
    name: 'commit() of a view fails with ERR_FAILED_PRECONDITION, with or without a parent',
    run: async (t) => {
      const sn = await fixture(t)
      await sn.view('vw-np')
      await failsCleanly(sn, () => sn.commit('new', 'vw'), 'ERR_FAILED_PRECONDITION')
      await failsCleanly(sn, () => sn.commit('new', 'vw-np'), 'ERR_FAILED_PRECONDITION')
    },
  },
  {
    name: 'commit() of a committed snapshot fails with ERR_FAILED_PRECONDITION',
    run: async (t) => {
      const sn = await fixture(t)
      await failsCleanly(sn, () => sn.commit('new', 'base'), 'ERR_FAILED_PRECONDITION')
    },
  },
  {
    name: 'commit() keeps the parent, removes the key and carries only the commit labels with fresh times',
    run: async (t) => {
      const sn = await fixture(t)
      await sn.prepare('child', 'base', { labels: { from: 'prepare' } })
      const prepared = await sn.stat('child')
      await new Promise((r) => setTimeout(r, 5))
      await sn.commit('child-c', 'child', { labels: { from: 'commit', empty: '' } })
      const info = await sn.stat('child-c')
      assert.equal(info.kind, 'committed')
      assert.equal(info.parent, 'base')
      assert.deepStrictEqual(info.labels, { from: 'commit' })
      assert.ok(info.created.getTime() > prepared.created.getTime(), 'commit must give fresh timestamps')
      assert.equal(info.created.getTime(), info.updated.getTime())
      await rejects(sn.stat('child'), 'ERR_NOT_FOUND')
      await rejects(sn.mounts('child'), 'ERR_NOT_FOUND')
    },
  },
  {
    name: 'mounts() of a committed snapshot fails with ERR_FAILED_PRECONDITION, of a missing one with ERR_NOT_FOUND',
    run: async (t) => {
      const sn = await fixture(t)
      await failsCleanly(sn, () => sn.mounts('base'), 'ERR_FAILED_PRECONDITION')
      await failsCleanly(sn, () => sn.mounts('nope'), 'ERR_NOT_FOUND')
    },
  },
  {
    name: 'mounts() returns what prepare() and view() returned',
    run: async (t) => {
      const sn = await t.sn()
      const m1 = await sn.prepare('b-a')
      assert.deepStrictEqual(await sn.mounts('b-a'), m1)
      await sn.commit('b', 'b-a')
      const m2 = await sn.prepare('a', 'b')
      const m3 = await sn.view('v', 'b')
      assert.deepStrictEqual(await sn.mounts('a'), m2)
      assert.deepStrictEqual(await sn.mounts('v'), m3)
      for (const m of [...m1, ...m2, ...m3]) {
        assert.equal(typeof m.type, 'string')
        assert.equal(typeof m.source, 'string')
        assert.ok(Array.isArray(m.options))
      }
    },
  },
  {
    name: 'remove() of a snapshot with an active, view or committed child fails with ERR_FAILED_PRECONDITION',
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('p-a')
      await sn.commit('p', 'p-a')
      for (const make of [
        () => sn.prepare('c', 'p'),
        () => sn.view('c', 'p'),
        async () => {
          await sn.prepare('c-a', 'p')
          await sn.commit('c', 'c-a')
        },
      ]) {
        await make()
        await failsCleanly(sn, () => sn.remove('p'), 'ERR_FAILED_PRECONDITION', 'remove')
        await sn.remove('c')
      }
      await sn.remove('p')
    },
  },
  {
    name: 'remove() of a missing key fails with ERR_NOT_FOUND',
    run: async (t) => {
      const sn = await fixture(t)
      await failsCleanly(sn, () => sn.remove('nope'), 'ERR_NOT_FOUND')
    },
  },
  {
    name: 'a removed key can be used again at once, as any kind',
    run: async (t) => {
      const sn = await fixture(t)
      await sn.remove('act')
      await sn.view('act', 'base')
      await sn.remove('act')
      await sn.prepare('act')
      await sn.commit('act2', 'act')
      await sn.remove('act2')
      await sn.prepare('act2', 'base')
      assert.equal((await sn.stat('act2')).parent, 'base')
    },
  },
  {
    name: 'stat(), usage() and update() of a missing key fail with ERR_NOT_FOUND',
    run: async (t) => {
      const sn = await fixture(t)
      await failsCleanly(sn, () => sn.stat('nope'), 'ERR_NOT_FOUND')
      await failsCleanly(sn, () => sn.usage('nope'), 'ERR_NOT_FOUND')
      await failsCleanly(sn, () => sn.update({ name: 'nope', labels: { a: 'b' } }), 'ERR_NOT_FOUND')
      if (typeof sn.open === 'function') await failsCleanly(sn, () => sn.open('nope'), 'ERR_NOT_FOUND')
    },
  },
  {
    name: 'update() with a fieldpath other than labels fails with ERR_INVALID_ARGUMENT',
    run: async (t) => {
      const sn = await fixture(t)
      for (const path of ['parent', 'kind', 'name', 'created', 'updated', 'labels.', 'label.x', 'Labels']) {
        await failsCleanly(sn, () => sn.update({ name: 'act', labels: { a: 'b' } }, [path]), 'ERR_INVALID_ARGUMENT')
      }
      await failsCleanly(sn, () => sn.update({ name: 'act', labels: { a: 'b' } }, ['labels.a', 'kind']), 'ERR_INVALID_ARGUMENT')
    },
  },
  {
    name: 'update() never stores an empty label value and keeps created, kind, parent and name',
    run: async (t) => {
      const sn = await fixture(t)
      const before = await sn.stat('act')
      const a = await sn.update({ name: 'act', labels: { keep: 'v', drop: '' } })
      assert.deepStrictEqual(a.labels, { keep: 'v' })
      const b = await sn.update({ name: 'act', labels: { keep: '' } }, ['labels.keep'])
      assert.deepStrictEqual(b.labels, {})
      assert.equal(b.created.getTime(), before.created.getTime())
      assert.equal(b.kind, 'active')
      assert.equal(b.parent, 'base')
      assert.equal(b.name, 'act')
      assert.ok(b.updated.getTime() > a.updated.getTime())
    },
  },
  {
    name: 'prepare() and view() keep their labels; the created time equals the updated time',
    run: async (t) => {
      const sn = await fixture(t)
      await sn.prepare('l-a', 'base', { labels: { x: '1', y: '' } })
      await sn.view('l-v', undefined, { labels: { z: '2' } })
      const a = await sn.stat('l-a')
      assert.deepStrictEqual(a.labels, { x: '1' })
      assert.deepStrictEqual((await sn.stat('l-v')).labels, { z: '2' })
      assert.equal(a.created.getTime(), a.updated.getTime())
    },
  },
  {
    name: 'walk() with a filter that does not parse fails with ERR_INVALID_ARGUMENT',
    run: async (t) => {
      const sn = await fixture(t)
      for (const bad of ['name==', '==x', 'name==a,', ',', 'labels."open', 'name~=(', 'name=x', 'name!x', 'na me==x', '.name']) {
        await rejects(collect(sn.walk([bad])), 'ERR_INVALID_ARGUMENT')
      }
    },
  },
  {
    name: 'walk() matches with ==, != and ~=, quoted label keys, AND within a filter and OR across filters',
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('one', undefined, { labels: { 'example.com/tier': 'gold', 'a.b': 'x y' } })
      await sn.prepare('two', undefined, { labels: { 'example.com/tier': 'silver' } })
      await sn.prepare('three-c')
      await sn.commit('three', 'three-c', { labels: { n: '3' } })
      await sn.view('four', 'three')
      const names = async (...filters: string[]) => (await collect(sn.walk(filters))).map((i) => i.name).sort()
      assert.deepStrictEqual(await names(), ['four', 'one', 'three', 'two'])
      assert.deepStrictEqual(await names(''), ['four', 'one', 'three', 'two'])
      assert.deepStrictEqual(await names('labels."example.com/tier"==gold'), ['one'])
      assert.deepStrictEqual(await names('labels."example.com/tier"!=gold'), ['four', 'three', 'two'])
      assert.deepStrictEqual(await names('labels."example.com/tier"~=^(gold|silver)$'), ['one', 'two'])
      assert.deepStrictEqual(await names('labels."a.b"=="x y"'), ['one'])
      assert.deepStrictEqual(await names('name~=^t'), ['three', 'two'])
      assert.deepStrictEqual(await names('parent==three'), ['four'])
      assert.deepStrictEqual(await names('parent!=""'), ['four'])
      assert.deepStrictEqual(await names('parent==""'), ['one', 'three', 'two'])
      assert.deepStrictEqual(await names('kind==committed', 'kind==view'), ['four', 'three'])
      assert.deepStrictEqual(await names('kind==active,labels.n'), [])
      assert.deepStrictEqual(await names(' kind == active , name != one '), ['two'])
      assert.deepStrictEqual(await names('labels.missing'), [])
      assert.deepStrictEqual(await names('nosuchfield==x'), [])
    },
  },
  {
    name: 'walk() visits every snapshot once while snapshots are created and removed inside the loop',
    run: async (t) => {
      const sn = await t.sn()
      for (let i = 0; i < 20; i++) await sn.prepare(`w-${i}`)
      const seen = new Map<string, number>()
      let i = 0
      for await (const info of sn.walk()) {
        seen.set(info.name, (seen.get(info.name) ?? 0) + 1)
        await sn.prepare(`new-${i}`)
        if (i < 10) await sn.remove(`w-${19 - i}`)
        await sn.stat(info.name).catch(() => undefined)
        i++
      }
      for (const [name, n] of seen) assert.equal(n, 1, `${name} was visited ${n} times`)
      for (let j = 0; j < 10; j++) assert.ok(seen.has(`w-${j}`), `w-${j} must be visited`)
      assert.equal((await collect(sn.walk())).length, 20 - 10 + i)
    },
  },
  {
    name: 'keys may hold slashes, spaces, colons and any Unicode; a 4096-byte key works',
    run: async (t) => {
      const sn = await t.sn()
      const keys = ['/abs/path', 'extract-1 sha256:abc', 'ünïcødé ✓', '..', '.', 'a'.repeat(4096), '日'.repeat(1365)]
      for (const k of keys) {
        await sn.prepare(k)
        assert.equal((await sn.stat(k)).name, k)
      }
      await sn.commit('c:/x y', keys[0])
      await sn.prepare('child', 'c:/x y')
      assert.equal((await sn.stat('child')).parent, 'c:/x y')
    },
  },
  {
    name: 'an empty, NUL-holding, over-long or non-string key fails with ERR_INVALID_ARGUMENT in every call',
    run: async (t) => {
      const sn = await fixture(t)
      const bad: unknown[] = ['', 'a\0b', 'a'.repeat(4097), '日'.repeat(1366), 42, null]
      for (const k of bad as string[]) {
        const calls: Array<() => Promise<unknown>> = [
          () => sn.prepare(k),
          () => sn.view(k),
          () => sn.commit(k, 'act'),
          () => sn.commit('ok', k),
          () => sn.remove(k),
          () => sn.stat(k),
          () => sn.mounts(k),
          () => sn.usage(k),
          () => sn.update({ name: k, labels: {} }),
        ]
        if (typeof sn.open === 'function') calls.push(() => sn.open(k))
        // An empty parent means "no parent", as in containerd.
        if (k !== '')
          calls.push(
            () => sn.prepare('ok', k),
            () => sn.view('ok', k),
          )
        for (const call of calls) await failsCleanly(sn, call, 'ERR_INVALID_ARGUMENT')
      }
    },
  },
  {
    name: 'labels that are not strings fail with ERR_INVALID_ARGUMENT',
    run: async (t) => {
      const sn = await fixture(t)
      const bad = [{ a: 1 }, { a: null }, 'labels', { '': 'x' }, { k: 'v'.repeat(5000) }] as unknown as Record<string, string>[]
      for (const labels of bad) {
        await failsCleanly(sn, () => sn.prepare('x', undefined, { labels }), 'ERR_INVALID_ARGUMENT')
        await failsCleanly(sn, () => sn.update({ name: 'act', labels }), 'ERR_INVALID_ARGUMENT')
      }
    },
  },
  {
    name: 'committed snapshots and views are read-only through open() and never change',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      await sn.prepare('c-a')
      await t.withFs(sn, 'c-a', (fs) => fs.writeFile('/f', 'original'))
      await sn.commit('c', 'c-a')
      await sn.view('v', 'c')
      await sn.prepare('child', 'c')
      await t.withFs(sn, 'child', async (fs) => {
        await fs.writeFile('/f', 'changed in child')
        await fs.writeFile('/g', 'new')
      })
      if (typeof sn.open === 'function') {
        for (const key of ['c', 'v']) {
          const fs = await sn.open(key)
          try {
            assert.equal(fs.readOnly, true)
            await rejects(fs.writeFile('/f', 'x'), 'EROFS')
            await rejects(fs.mkdir('/d'), 'EROFS')
            await rejects(fs.unlink('/f'), 'EROFS')
            await rejects(fs.chmod('/f', 0o600), 'EROFS')
            await rejects(fs.open('/f', 'r+'), 'EROFS')
            assert.equal((await fs.readFile('/f')).toString(), 'original')
            await rejects(fs.stat('/g'), 'ENOENT')
          } finally {
            await fs.close()
          }
        }
      }
      await t.withFs(sn, 'v', async (fs) => assert.equal((await fs.readFile('/f')).toString(), 'original'))
    },
  },
  {
    name: 'a handle opened while its snapshot is committed or removed cannot write into the result',
    content: true,
    run: async (t) => {
      const sn = await t.sn()
      if (typeof sn.open !== 'function') return
      for (let i = 0; i < 16; i++) {
        const key = `race-${i}`
        await sn.prepare(key)
        // Both calls start before either finishes: open must not slip in between
        // commit's revocation of handles and its metadata batch.
        const end = i % 2 ? sn.remove(key) : sn.commit(`done-${i}`, key)
        // Open a little later each round, to land in each stage of the commit.
        const late = (async () => {
          for (let n = 0; n < i; n++) await new Promise((r) => setImmediate(r))
          return sn.open(key)
        })()
        const [ended, opened] = await Promise.allSettled([end, late])
        assert.equal(
          ended.status,
          'fulfilled',
          `commit/remove of ${key} failed: ${ended.status === 'rejected' ? String(ended.reason) : ''}`,
        )
        if (opened.status === 'fulfilled') {
          const fs = opened.value
          let wrote = true
          try {
            await fs.writeFile('/late', 'x')
          } catch {
            wrote = false
          }
          await fs.close().catch(() => {})
          assert.equal(wrote, false, `a handle on ${key} wrote after the snapshot was ${i % 2 ? 'removed' : 'committed'}`)
        }
        if (i % 2 === 0) {
          await sn.view(`look-${i}`, `done-${i}`)
          await t.withFs(sn, `look-${i}`, async (fs) => rejects(fs.stat('/late'), 'ENOENT'))
        }
      }
    },
  },
])
