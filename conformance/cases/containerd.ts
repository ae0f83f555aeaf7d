/**
 * containerd's snapshot test suite (core/snapshots/testsuite), all 21
 * scenarios, each step as research/containerd.md §2.2 records it. Names keep
 * containerd's spelling so a failure maps back to its source.
 */
import { defineCases } from '../case.js'
import { assert, collect, rejects } from '../assert.js'
import { assertSameTree } from '../compare.js'
import type { CaseContext } from '../context.js'
import { apply, chown, createDir, createFile, link, removeAll, rename, type Applier } from '../fstest.js'
import type { Info, Snapshotter } from '../../core/snapshotter.js'

const GC = 'containerd.io/gc.root'
const gcOpt = () => ({ labels: { [GC]: new Date().toISOString() } })

let counter = 0

/** Prepare on `parent`, apply, commit; returns the committed name. */
async function createSnapshot(t: CaseContext, sn: Snapshotter, parent: string | undefined, applier: Applier): Promise<string> {
  const name = `${t.work}/snap-${++counter}-${Math.floor(Math.random() * 1e6)}`
  const key = `${name}-prepare`
  await sn.prepare(key, parent, gcOpt())
  await t.withFs(sn, key, applier)
  await sn.commit(name, key, gcOpt())
  return name
}

/** A view of `name` must equal the flat reference tree. */
async function checkSnapshot(t: CaseContext, sn: Snapshotter, name: string, flat: CaseFlat): Promise<void> {
  const key = `${name}-view`
  await sn.view(key, name, gcOpt())
  await t.withFs(sn, key, (fs) => assertSameTree(fs, flat.fs, `view of ${name}`))
  await sn.remove(key)
}

type CaseFlat = { fs: Awaited<ReturnType<CaseContext['scratch']>> }

/** Builds a chain, one layer per applier, and checks every layer, not only the top. */
async function checkSnapshots(t: CaseContext, sn: Snapshotter, ...appliers: Applier[]): Promise<string[]> {
  const flat = { fs: await t.scratch(`flat-${++counter}`) }
  const names: string[] = []
  let parent: string | undefined
  for (const applier of appliers) {
    parent = await createSnapshot(t, sn, parent, applier)
    await applier(flat.fs)
    await checkSnapshot(t, sn, parent, flat)
    names.push(parent)
  }
  return names
}

function assertBetween(d: Date, lo: number, hi: number, what: string): void {
  assert.ok(
    d.getTime() >= lo && d.getTime() <= hi,
    `${what} ${d.toISOString()} is not within [${new Date(lo).toISOString()}, ${new Date(hi).toISOString()}]`,
  )
}

async function basic(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const preparing = `${t.work}/preparing`
  const mounts = await sn.prepare(preparing, undefined, gcOpt())
  assert.ok(mounts.length >= 1, 'prepare must return at least one mount')
  const initial = apply(createFile('/foo', 'foo\n', 0o777), createDir('/a', 0o755), createDir('/a/b', 0o755), createDir('/a/b/c', 0o755))
  await t.withFs(sn, preparing, initial)

  const committed = `${t.work}/committed`
  await sn.commit(committed, preparing, gcOpt())
  const si = await sn.stat(committed)
  assert.equal(si.parent, undefined)
  assert.equal(si.kind, 'committed')
  await rejects(sn.stat(preparing), 'ERR_NOT_FOUND')

  const next = `${t.work}/nextlayer`
  await sn.prepare(next, committed, gcOpt())
  const flat = await t.scratch('flat')
  await initial(flat)
  const diff = apply(createFile('/bar', 'bar\n', 0o777), createFile('/foo', 'bar\n', 0o777), removeAll('/a/b'))
  await t.withFs(sn, next, async (fs) => {
    await assertSameTree(fs, flat, 'a new layer on the committed snapshot')
    await diff(fs)
  })
  const ni = await sn.stat(next)
  assert.equal(ni.parent, committed)
  assert.equal(ni.kind, 'active')

  const nextCommitted = `${t.work}/committed-next`
  await sn.commit(nextCommitted, next, gcOpt())
  const nci = await sn.stat(nextCommitted)
  assert.equal(nci.parent, committed)
  assert.equal(nci.kind, 'committed')
  await rejects(sn.stat(next), 'ERR_NOT_FOUND')

  const expected = new Map<string, Info>([
    [committed, si],
    [nextCommitted, nci],
  ])
  const walked = new Map((await collect(sn.walk())).map((i) => [i.name, i]))
  for (const [name, info] of expected) assert.deepStrictEqual(walked.get(name), info, `walk must report ${name} as stat does`)

  const view = `${t.work}/nextnextlayer`
  await sn.view(view, nextCommitted, gcOpt())
  await diff(flat)
  await t.withFs(sn, view, (fs) => assertSameTree(fs, flat, 'the view of committed-next'))
  await sn.remove(view)

  await rejects(sn.remove(committed), 'ERR_FAILED_PRECONDITION', 'remove')
  await sn.remove(nextCommitted)
  await sn.remove(committed)
}

async function statActive(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const preparing = `${t.work}/preparing`
  assert.ok((await sn.prepare(preparing, undefined, gcOpt())).length >= 1)
  await t.withFs(sn, preparing, async () => {})
  const si = await sn.stat(preparing)
  assert.equal(si.name, preparing)
  assert.equal(si.kind, 'active')
  assert.equal(si.parent, undefined)
}

async function statCommitted(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const preparing = `${t.work}/preparing`
  await sn.prepare(preparing, undefined, gcOpt())
  await t.withFs(sn, preparing, createFile('/foo', 'foo\n', 0o644))
  const committed = `${t.work}/committed`
  await sn.commit(committed, preparing, gcOpt())
  const si = await sn.stat(committed)
  assert.equal(si.name, committed)
  assert.equal(si.kind, 'committed')
  assert.equal(si.parent, undefined)
}

async function transitivity(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const snapA = `${t.work}/snapA`
  const snapB = `${t.work}/snapB`
  await sn.prepare(`${t.work}/prepA`, undefined, gcOpt())
  await t.withFs(sn, `${t.work}/prepA`, createFile('/foo', 'foo\n', 0o777))
  await sn.commit(snapA, `${t.work}/prepA`, gcOpt())
  await sn.prepare(`${t.work}/prepB`, snapA, gcOpt())
  await t.withFs(sn, `${t.work}/prepB`, createFile('/foo', 'foo bar\n', 0o777))
  await sn.commit(snapB, `${t.work}/prepB`, gcOpt())
  const a = await sn.stat(snapA)
  const b = await sn.stat(snapB)
  assert.equal(a.parent, undefined)
  assert.equal(b.parent, snapA)
  assert.equal((await sn.stat(b.parent!)).parent, undefined)
}

async function prepareViewFailing(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const snapA = `${t.work}/snapA`
  await sn.prepare(`${t.work}/preparing`, undefined, gcOpt())
  await sn.commit(snapA, `${t.work}/preparing`, gcOpt())
  const newLayer = `${t.work}/newlayer`
  await sn.prepare(newLayer, snapA, gcOpt())
  await rejects(sn.view(newLayer, snapA, gcOpt()), 'ERR_ALREADY_EXISTS')
  const prepLayer = `${t.work}/prepLayer`
  await sn.prepare(prepLayer, snapA, gcOpt())
  await rejects(sn.prepare(prepLayer, snapA, gcOpt()), 'ERR_ALREADY_EXISTS')
  const viewLayer = `${t.work}/viewLayer`
  await sn.view(viewLayer, snapA, gcOpt())
  await rejects(sn.view(viewLayer, snapA, gcOpt()), 'ERR_ALREADY_EXISTS')
}

async function update(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const t1 = Date.now()
  await sn.prepare('c1-a', undefined, gcOpt())
  await sn.commit('c1', 'c1-a', gcOpt())
  await sn.prepare('c2-a', 'c1', gcOpt())
  await sn.commit('c2', 'c2-a', gcOpt())
  await sn.prepare('a1', 'c2', gcOpt())
  await sn.prepare('a2', undefined, gcOpt())
  await sn.view('v1', 'c2', gcOpt())
  await sn.view('v2', undefined, gcOpt())
  const t2 = Date.now()
  const base: Array<[string, Info['kind'], string | undefined]> = [
    ['c1', 'committed', undefined],
    ['c2', 'committed', 'c1'],
    ['a1', 'active', 'c2'],
    ['a2', 'active', undefined],
    ['v1', 'view', 'c2'],
    ['v2', 'view', undefined],
  ]
  for (const [name, kind, parent] of base) {
    const st = await sn.stat(name)
    assertBetween(st.created, t1, t2, `created of ${name}`)
    assert.equal(st.created.getTime(), st.updated.getTime(), `created must equal updated for ${name}`)
    assert.equal(st.kind, kind)
    assert.equal(st.parent, parent)
    assert.equal(st.name, name)

    const root = new Date().toISOString()
    const u1 = Date.now()
    const changed = { name, parent: 'doesnotexist', labels: { l1: 'v1', l2: 'v2', l3: 'v3', [GC]: root } }
    const after = await sn.update(changed)
    const u2 = Date.now()
    assert.equal(after.created.getTime(), st.created.getTime(), `created of ${name} must not change`)
    assertBetween(after.updated, u1, u2, `updated of ${name}`)
    assert.ok(after.updated.getTime() > st.updated.getTime(), `updated of ${name} must move forward`)
    assert.equal(after.kind, kind)
    assert.equal(after.parent, parent)
    assert.equal(after.name, name)
    assert.deepStrictEqual(after.labels, { l1: 'v1', l2: 'v2', l3: 'v3', [GC]: root })
    assert.deepStrictEqual((await sn.stat(name)).labels, after.labels)

    const partial = await sn.update({ name, labels: { l1: 'updated', l4: 'v4' } }, ['labels.l1', 'labels.l2'])
    assert.deepStrictEqual(partial.labels, { l1: 'updated', l3: 'v3', [GC]: root })

    const whole = await sn.update({ name, labels: { l4: 'v4', [GC]: root } }, ['labels'])
    assert.deepStrictEqual(whole.labels, { l4: 'v4', [GC]: root })

    const reparent = { name, parent: 'doesnotexist' }
    await rejects(sn.update(reparent, ['parent']), 'ERR_INVALID_ARGUMENT')
  }
}

async function removeReuse(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  await sn.prepare('committed-a', undefined, gcOpt())
  await sn.commit('committed-1', 'committed-a', gcOpt())
  await sn.prepare('reuse-1', 'committed-1', gcOpt())
  await sn.remove('reuse-1')
  await sn.view('reuse-1', 'committed-1', gcOpt())
  await sn.remove('reuse-1')
  await sn.prepare('reuse-1', undefined, gcOpt())
  await sn.remove('committed-1')
  await sn.commit('committed-1', 'reuse-1', gcOpt())
}

async function walk(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const opt = { labels: { [GC]: 'check-walk' } }
  const withL = (l: string) => ({ labels: { [GC]: 'check-walk', l } })
  await sn.prepare('a-np', undefined, opt)
  await sn.prepare('p-tmp', undefined, opt)
  await sn.commit('p', 'p-tmp', opt)
  await sn.prepare('a', 'p', opt)
  await sn.view('v', 'p', opt)
  await sn.prepare('p-wl-tmp', undefined, opt)
  await sn.commit('p-wl', 'p-wl-tmp', withL('1'))
  await sn.prepare('a-wl', 'p-wl', withL('2'))
  await sn.view('v-wl', 'p-wl', withL('3'))
  await sn.prepare('a-np-wl', undefined, withL('2'))
  const table: Array<[string[], string[]]> = [
    [[`labels."${GC}"==check-walk`], ['a-np', 'p', 'a', 'v', 'p-wl', 'a-wl', 'v-wl', 'a-np-wl']],
    [[`kind==active,labels."${GC}"==check-walk`], ['a-np', 'a', 'a-wl', 'a-np-wl']],
    [[`kind==view,labels."${GC}"==check-walk`], ['v', 'v-wl']],
    [[`kind==committed,labels."${GC}"==check-walk`], ['p', 'p-wl']],
    [
      ['name==p', 'name==a-np-wl'],
      ['p', 'a-np-wl'],
    ],
    [['name==a-wl,labels.l'], ['a-wl']],
    [['parent==p'], ['a', 'v']],
    [[`parent!="",labels."${GC}"==check-walk`], ['a', 'v', 'a-wl', 'v-wl']],
    [['labels.l'], ['p-wl', 'a-wl', 'v-wl', 'a-np-wl']],
    [['labels.l==2'], ['a-wl', 'a-np-wl']],
  ]
  for (const [filters, want] of table) {
    const got = (await collect(sn.walk(filters))).map((i) => i.name).sort()
    assert.deepStrictEqual(got, [...want].sort(), `walk(${JSON.stringify(filters)})`)
  }
}

async function nextSecond(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5))
}

async function layerFileUpdate(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const l1 = apply(
    createDir('/etc', 0o700),
    createFile('/etc/hosts', 'mydomain 10.0.0.1', 0o644),
    createFile('/etc/profile', 'PATH=/usr/bin', 0o644),
  )
  const l2 = apply(
    createFile('/etc/hosts', 'mydomain 10.0.0.2', 0o644),
    createFile('/etc/profile', 'PATH=/usr/bin', 0o666),
    createDir('/root', 0o700),
    createFile('/root/.bashrc', 'PATH=/usr/sbin:/usr/bin', 0o644),
  )
  for (let i = 0; i < 5; i++) {
    await checkSnapshots(t, sn, l1, l2)
    if (i < 4) await nextSecond()
  }
}

async function removeDirectoryInLowerLayer(t: CaseContext): Promise<void> {
  await checkSnapshots(
    t,
    await t.sn(),
    apply(createDir('/lib', 0o700), createFile('/lib/hidden', '', 0o644)),
    apply(removeAll('/lib'), createDir('/lib', 0o700), createFile('/lib/not-hidden', '', 0o644)),
    apply(createFile('/lib/newfile', '', 0o644)),
  )
}

async function chownCase(t: CaseContext): Promise<void> {
  t.requireRoot('chown to another user')
  await checkSnapshots(
    t,
    await t.sn(),
    apply(
      createDir('/opt', 0o700),
      createDir('/opt/a', 0o700),
      createDir('/opt/a/b', 0o700),
      createFile('/opt/a/b/file.txt', 'hello', 0o644),
    ),
    apply(chown('/opt', 1, 1), chown('/opt/a', 1, 1), chown('/opt/a/b', 1, 1), chown('/opt/a/b/file.txt', 1, 1)),
  )
}

async function directoryPermissionOnCommit(t: CaseContext): Promise<void> {
  t.requireRoot('chown to another user')
  await checkSnapshots(
    t,
    await t.sn(),
    apply(
      createDir('/dir1', 0o700),
      createDir('/dir2', 0o700),
      createDir('/dir3', 0o700),
      createDir('/dir4', 0o700),
      createFile('/dir4/f1', '...', 0o644),
      createDir('/dir5', 0o700),
      createFile('/dir5/f1', '...', 0o644),
      chown('/dir1', 1, 1),
      chown('/dir2', 1, 1),
      chown('/dir3', 1, 1),
      chown('/dir5', 1, 1),
      chown('/dir5/f1', 1, 1),
    ),
    apply(chown('/dir2', 0, 0), removeAll('/dir3'), chown('/dir4', 1, 1), chown('/dir4/f1', 1, 1)),
    apply(createDir('/dir3', 0o700), chown('/dir3', 1, 1), removeAll('/dir5'), createDir('/dir5', 0o700), chown('/dir5', 1, 1)),
  )
}

async function removeIntermediateSnapshot(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const base = `${t.work}/base`
  await sn.prepare(base, undefined, gcOpt())
  await t.withFs(sn, base, async () => {})
  const committedBase = `${t.work}/committed-base`
  await sn.commit(committedBase, base, gcOpt())
  const inter = `${t.work}/intermediate`
  await sn.prepare(inter, committedBase, gcOpt())
  const committedInter = `${t.work}/committed-inter`
  await sn.commit(committedInter, inter, gcOpt())
  const top = `${t.work}/toplayer`
  await sn.prepare(top, committedInter, gcOpt())
  await rejects(sn.remove(committedInter), 'ERR_FAILED_PRECONDITION', 'remove')
  await sn.remove(top)
  await sn.remove(committedInter)
  await sn.remove(committedBase)
}

async function deletedFilesInChildSnapshot(t: CaseContext): Promise<void> {
  await checkSnapshots(
    t,
    await t.sn(),
    apply(createFile('/foo', 'foo\n', 0o777), createFile('/foobar', 'foobar\n', 0o777)),
    removeAll('/foobar'),
    apply(),
  )
}

async function moveFileFromLowerLayer(t: CaseContext): Promise<void> {
  await checkSnapshots(
    t,
    await t.sn(),
    apply(createDir('/dir1', 0o700), createFile('/dir1/f1', 'Hello', 0o644), createDir('dir2', 0o700), createFile('dir2/f2', '...', 0o644)),
    apply(
      createDir('/dir3', 0o700),
      createFile('/dir3/f1', 'Hello', 0o644),
      removeAll('/dir1'),
      link('dir2/f2', 'dir3/f2'),
      removeAll('dir2/f2'),
    ),
  )
}

async function viewReadonly(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const preparing = `${t.work}/preparing`
  await sn.prepare(preparing, undefined, gcOpt())
  const committed = `${t.work}/committed`
  await sn.commit(committed, preparing, gcOpt())
  const view = `${t.work}/view`
  await sn.view(view, committed, gcOpt())
  await t.withFs(sn, view, async (fs) => {
    await rejects(fs.writeFile('/testfile', 'x'), 'EROFS')
  })
  await sn.remove(view)
  await sn.remove(committed)
}

async function statInWalk(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const prefix = 'stats-in-walk'
  await sn.prepare(`${prefix}-c1-a`, undefined, gcOpt())
  await sn.commit(`${prefix}-c1`, `${prefix}-c1-a`, gcOpt())
  await sn.prepare(`${prefix}-c2-a`, `${prefix}-c1`, gcOpt())
  await sn.commit(`${prefix}-c2`, `${prefix}-c2-a`, gcOpt())
  await sn.prepare(`${prefix}-a1`, `${prefix}-c2`, gcOpt())
  await sn.view(`${prefix}-v1`, `${prefix}-c2`, gcOpt())
  let seen = 0
  for await (const info of sn.walk()) {
    if (!info.name.startsWith(prefix)) continue
    assert.deepStrictEqual(await sn.stat(info.name), info, `stat inside walk for ${info.name}`)
    seen++
  }
  assert.equal(seen, 4)
}

async function closeTwice(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const n = `${t.work}/closetwice`
  await sn.prepare(`${n}-prepare`, undefined, gcOpt())
  await sn.commit(n, `${n}-prepare`, gcOpt())
  await sn.remove(n)
  await sn.close()
  await sn.close()
}

async function rootPermission(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const preparing = `${t.work}/preparing`
  await sn.prepare(preparing, undefined, gcOpt())
  await t.withFs(sn, preparing, async (fs) => {
    const mode = (await fs.stat('/')).mode
    assert.equal(mode.toString(8), '755', 'the root of a new snapshot must have mode 0755')
  })
}

async function renameCase(t: CaseContext): Promise<void> {
  const sn = await t.sn()
  const dirRename = t.access === 'open' || t.capabilities(sn).renameLowerDirInMount
  await checkSnapshots(
    t,
    sn,
    apply(
      createDir('/dir1', 0o700),
      createDir('/somefiles', 0o700),
      createFile('/somefiles/f1', 'was here first!', 0o644),
      createFile('/somefiles/f2', 'nothing interesting', 0o644),
    ),
    apply(
      ...(dirRename ? [rename('/dir1', '/dir2')] : []),
      createFile('/somefiles/f1-overwrite', 'new content 1', 0o644),
      rename('/somefiles/f1-overwrite', '/somefiles/f1'),
      rename('/somefiles/f2', '/somefiles/f3'),
    ),
  )
}

/**
 * containerd's 128LayersMount, for any depth. Every layer is compared with
 * the flat tree before and after its change, as containerd does, up to
 * `checkAll` layers; deeper chains are compared at the first layers, every
 * 50th and the last (a full check of each is quadratic in the depth).
 */
export async function layersMount(t: CaseContext, depth: number, checkAll = 128): Promise<void> {
  const sn = await t.sn()
  const flat = await t.scratch('flat')
  const base = apply(
    createFile('/bottom', 'way at the bottom\n', 0o777),
    createFile('/overwriteme', 'FIRST!\n', 0o777),
    createDir('/addhere', 0o755),
    createDir('/onlyme', 0o755),
    createFile('/onlyme/bottom', 'bye!\n', 0o777),
  )
  await base(flat)
  let parent = `${t.work}/layer-0`
  await sn.prepare(`${parent}-prepare`, undefined, gcOpt())
  await t.withFs(sn, `${parent}-prepare`, base)
  await sn.commit(parent, `${parent}-prepare`, gcOpt())
  for (let i = 1; i < depth; i++) {
    const key = `${t.work}/prepare-layer-${i}`
    await sn.prepare(key, parent, gcOpt())
    const layer = apply(
      createFile('/overwriteme', `${i} WAS HERE!\n`, 0o777),
      createFile(`/addhere/file-${i}`, 'same\n', 0o755),
      removeAll('/onlyme'),
      createDir('/onlyme', 0o755),
      createFile(`/onlyme/file-${i}`, 'only me!\n', 0o777),
    )
    const full = depth <= checkAll || i < 4 || i % 50 === 0 || i === depth - 1
    await t.withFs(sn, key, async (fs) => {
      if (full) await assertSameTree(fs, flat, `layer ${i} before its change`)
      await layer(fs)
      await layer(flat)
      if (full) await assertSameTree(fs, flat, `layer ${i} after its change`)
    })
    parent = `${t.work}/committed-${i}`
    await sn.commit(parent, key, gcOpt())
  }
  const view = `${t.work}/fullview`
  await sn.view(view, parent, gcOpt())
  await t.withFs(sn, view, (fs) => assertSameTree(fs, flat, `a view over ${depth} layers`))
}

export const containerdCases = defineCases('containerd', [
  { name: 'Basic', content: true, run: basic },
  { name: 'StatActive', content: true, run: statActive },
  { name: 'StatComitted', content: true, run: statCommitted },
  { name: 'TransitivityTest', content: true, run: transitivity },
  { name: 'PreareViewFailingtest', run: prepareViewFailing },
  { name: 'Update', run: update },
  { name: 'Remove', run: removeReuse },
  { name: 'Walk', run: walk },
  { name: 'LayerFileupdate', content: true, run: layerFileUpdate },
  { name: 'RemoveDirectoryInLowerLayer', content: true, run: removeDirectoryInLowerLayer },
  { name: 'Chown', content: true, run: chownCase },
  { name: 'DirectoryPermissionOnCommit', content: true, run: directoryPermissionOnCommit },
  { name: 'RemoveIntermediateSnapshot', content: true, run: removeIntermediateSnapshot },
  { name: 'DeletedFilesInChildSnapshot', content: true, run: deletedFilesInChildSnapshot },
  { name: 'MoveFileFromLowerLayer', content: true, run: moveFileFromLowerLayer },
  { name: 'ViewReadonly', content: true, run: viewReadonly },
  { name: 'StatInWalk', run: statInWalk },
  { name: 'CloseTwice', run: closeTwice },
  { name: 'RootPermission', content: true, run: rootPermission },
  { name: 'Rename', content: true, run: renameCase },
  { name: '128LayersMount', content: true, timeout: 240_000, run: (t) => layersMount(t, 128) },
])
