/** The `ctr snapshots` family: ls, tree, info, usage, mounts, prepare, view, commit, rm, label. */
import { readFileSync } from 'node:fs'
import { assertNoImageUses } from '../../image/remove.js'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import type { CliContext } from '../context.js'
import type { Info, Mount } from '../../core/snapshotter.js'

function parseLabels(pairs: unknown): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const pair of (pairs as string[] | undefined) ?? []) {
    const i = pair.indexOf('=')
    if (i <= 0) throw new UsageError(`a label is key=value, got ${JSON.stringify(pair)}`)
    labels[pair.slice(0, i)] = pair.slice(i + 1)
  }
  return labels
}

const labelOption = { label: { type: 'string' as const, multiple: true } }

async function collect(ctx: CliContext, filters: string[]): Promise<Info[]> {
  const sn = await ctx.sn()
  const out: Info[] = []
  for await (const info of sn.walk(filters)) out.push(info)
  return out.sort((a, b) => a.name.localeCompare(b.name))
}

function mountLine(m: Mount, target: string): string {
  return `mount -t ${m.type} ${m.source} ${target}${m.options.length > 0 ? ` -o ${m.options.join(',')}` : ''}`
}

/** Whether mount(8) can mount this type: a bind mount, or a filesystem the kernel lists in /proc/filesystems. */
function kernelMountable(type: string): boolean {
  if (type === 'bind') return true
  try {
    return readFileSync('/proc/filesystems', 'utf8')
      .split('\n')
      .some((l) => l.split('\t').at(-1) === type)
  } catch {
    return !type.includes('.')
  }
}

function printMounts(ctx: CliContext, mounts: Mount[], opts: { target?: string | undefined; served?: boolean | undefined } = {}): void {
  const target = opts.target ?? '<target>'
  if (ctx.json) {
    ctx.printJson(mounts)
    return
  }
  if (opts.served) {
    // The mount lives in this process (row's FUSE server) and ends with it: a mount command would name nothing.
    ctx.print("# no kernel mount after this command: this driver's mounts are served by the process holding the store")
    return
  }
  for (const m of mounts) {
    if (kernelMountable(m.type)) ctx.print(mountLine(m, target))
    else
      ctx.print(`# no kernel mount: this driver's snapshots (type ${m.type}) are reached through strata apply/diff or the library's open()`)
  }
}

export const ls: Command = {
  name: 'ls',
  readOnly: true,
  summary: 'list snapshots (optionally filtered, as in containerd)',
  usage: 'ls [--filter FILTER]...',
  help: 'A filter is selector[,selector...] with selectors like kind==active, parent==NAME,\nlabels."a.b/c"==v, name~=^sha256: ; several --filter are OR-ed.',
  options: { filter: { type: 'string', multiple: true } },
  args: [0, 0],
  async run(ctx, _args, opts) {
    const infos = await collect(ctx, (opts.filter as string[] | undefined) ?? [])
    if (ctx.json) return ctx.printJson(infos)
    ctx.table(
      ['KEY', 'PARENT', 'KIND'],
      infos.map((i) => [i.name, i.parent ?? '', i.kind]),
    )
  },
}

export const tree: Command = {
  name: 'tree',
  readOnly: true,
  summary: 'show the parent chains as a tree',
  usage: 'tree',
  args: [0, 0],
  async run(ctx) {
    const infos = await collect(ctx, [])
    const children = new Map<string | undefined, Info[]>()
    for (const i of infos) children.set(i.parent, [...(children.get(i.parent) ?? []), i])
    if (ctx.json) {
      type Node = { name: string; kind: string; children: Node[] }
      const build = (parent: string | undefined): Node[] =>
        (children.get(parent) ?? []).map((i) => ({ name: i.name, kind: i.kind, children: build(i.name) }))
      return ctx.printJson(build(undefined))
    }
    const walk = (parent: string | undefined, prefix: string): void => {
      const list = children.get(parent) ?? []
      list.forEach((i, n) => {
        const last = n === list.length - 1
        ctx.print(`${prefix}${last ? '└── ' : '├── '}${i.name} (${i.kind})`)
        walk(i.name, prefix + (last ? '    ' : '│   '))
      })
    }
    walk(undefined, '')
  },
}

export const info: Command = {
  name: 'info',
  readOnly: true,
  summary: 'show one snapshot as JSON',
  usage: 'info KEY',
  args: [1, 1],
  async run(ctx, [key]) {
    ctx.printJson(await (await ctx.sn()).stat(key))
  },
}

export const usage: Command = {
  name: 'usage',
  readOnly: true,
  summary: 'space and inodes a snapshot adds on top of its parent (all snapshots without KEY)',
  usage: 'usage [KEY]...',
  args: [0, Infinity],
  async run(ctx, keys) {
    const sn = await ctx.sn()
    const names = keys.length > 0 ? keys : (await collect(ctx, [])).map((i) => i.name)
    const rows: Array<{ key: string; size: number; inodes: number }> = []
    for (const key of names) rows.push({ key, ...(await sn.usage(key)) })
    if (ctx.json) return ctx.printJson(rows)
    ctx.table(
      ['KEY', 'SIZE', 'INODES'],
      rows.map((r) => [r.key, humanBytes(r.size), String(r.inodes)]),
    )
  },
}

export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

export const mounts: Command = {
  name: 'mounts',
  readOnly: true,
  summary: 'print the mount commands of an active snapshot or view',
  usage: 'mounts KEY [TARGET]',
  args: [1, 2],
  async run(ctx, [key, target]) {
    const sn = await ctx.sn()
    printMounts(ctx, await sn.mounts(key), { target, served: sn.capabilities?.servedMounts })
  },
}

/** prepare and view: the same call, making an active snapshot or a read-only view. */
function creating(name: 'prepare' | 'view', summary: string): Command {
  return {
    name,
    summary,
    usage: `${name} KEY [PARENT] [--label k=v]...`,
    options: labelOption,
    args: [1, 2],
    async run(ctx, [key, parent], opts) {
      const sn = await ctx.sn()
      printMounts(ctx, await sn[name](key, parent, { labels: parseLabels(opts.label) }), { served: sn.capabilities?.servedMounts })
    },
  }
}

export const prepare = creating('prepare', 'create an active (writable) snapshot, on PARENT or empty')
export const view = creating('view', 'create a read-only view, on PARENT or empty')

export const commit: Command = {
  name: 'commit',
  summary: 'commit active snapshot KEY as NAME',
  usage: 'commit NAME KEY [--label k=v]...',
  options: labelOption,
  args: [2, 2],
  async run(ctx, [name, key], opts) {
    await (await ctx.sn()).commit(name, key, { labels: parseLabels(opts.label) })
  },
}

export const rm: Command = {
  name: 'rm',
  summary: 'remove snapshots (children first); a layer an image uses is refused (strata rmi)',
  usage: 'rm KEY...',
  args: [1, Infinity],
  async run(ctx, keys) {
    const sn = await ctx.sn()
    for (const key of keys) {
      await assertNoImageUses(sn, key)
      await sn.remove(key)
    }
  },
}

export const label: Command = {
  name: 'label',
  summary: 'set labels (k=v) or delete them (k=)',
  usage: 'label KEY k=v...',
  args: [2, Infinity],
  async run(ctx, [key, ...pairs]) {
    const labels = parseLabels(pairs)
    const info = await (await ctx.sn()).update(
      { name: key, labels },
      Object.keys(labels).map((k) => `labels.${k}`),
    )
    if (ctx.json) ctx.printJson(info)
    else for (const [k, v] of Object.entries(info.labels)) ctx.print(`${k}=${v}`)
  },
}

export const snapshotCommands = [ls, tree, info, usage, mounts, prepare, view, commit, rm, label]
