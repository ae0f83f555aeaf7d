/** Layers and images: diff (export a layer), apply (import one), import (an image), images. */
import { pipeline } from 'node:stream/promises'
import { warnDropped } from '../dropped.js'
import { chainIds } from '../../layers/digest.js'
import { FailedPreconditionError, isSnapshotterError } from '../../core/errors.js'
import { importImage } from '../../image/import.js'
import { removeImage } from '../../image/remove.js'
import { imagesOf } from '../../image/store.js'
import { applyLayer } from '../../layers/apply.js'
import { exportDiff } from '../../layers/export.js'
import type { Snapshotter } from '../../core/snapshotter.js'
import type { Command } from '../command.js'
import { interruptible, UsageError } from '../command.js'
import { importProgress } from '../progress.js'
import { humanBytes } from './snapshots.js'

export const diff: Command = {
  name: 'diff',
  readOnly: true,
  summary: 'write the OCI layer tar of KEY against its parent to stdout',
  usage: 'diff KEY > layer.tar',
  help: 'Deletions are .wh.NAME whiteouts, opaque directories carry .wh..wh..opq (OCI image-spec).\nRefuses to write to a terminal.',
  args: [1, 1],
  async run(ctx, [key]) {
    if (ctx.out.isTTY) throw new UsageError('refusing to write a tar to a terminal: redirect stdout (strata diff KEY > layer.tar)')
    await pipeline(exportDiff(await ctx.sn(), key), ctx.out, { end: false })
  },
}

export const apply: Command = {
  name: 'apply',
  summary: 'apply an OCI layer tar (plain or gzip) from stdin to active snapshot KEY',
  usage: 'apply KEY < layer.tar',
  help: "Prints the layer's DiffID (sha256 of the uncompressed tar) and its size in bytes.",
  args: [1, 1],
  async run(ctx, [key]) {
    if (process.stdin.isTTY) throw new UsageError('stdin is a terminal: give the layer tar on stdin (strata apply KEY < layer.tar)')
    const sn = await ctx.sn()
    const info = await sn.stat(key)
    if (info.kind !== 'active')
      throw new FailedPreconditionError(`snapshot ${JSON.stringify(key)} is ${info.kind}: a layer applies only to an active snapshot`)
    const fs = await sn.open(key)
    try {
      const r = await applyLayer(fs, process.stdin)
      if (ctx.json) return ctx.printJson({ key, ...r })
      ctx.print(`${r.diffId} ${r.size}`)
    } finally {
      await fs.close()
    }
  },
}

export const importCommand: Command = {
  name: 'import',
  summary: 'import an image (OCI layout directory or docker-save archive) as committed layers',
  usage: 'import PATH [--tag TAG] [--ref REF]',
  help:
    'Each layer becomes a committed snapshot named by its ChainID; layers already present are reused.\n' +
    '--ref picks one image of a layout or archive holding several; --tag names it in the store\n(default: its name in the source, else its config digest).',
  options: { tag: { type: 'string' }, ref: { type: 'string' } },
  args: [1, 1],
  async run(ctx, [path], opts) {
    const onProgress = importProgress(ctx)
    const sn = await ctx.sn()
    const undone = 'the layer being unpacked was removed, layers already committed stay (a new import reuses them)'
    const r = await interruptible(undone, (signal) =>
      importImage(sn, path, {
        ...(opts.tag === undefined ? {} : { tag: opts.tag as string }),
        ...(opts.ref === undefined ? {} : { ref: opts.ref as string }),
        ...(onProgress ? { onProgress } : {}),
        signal,
      }),
    )
    warnDropped(ctx, 'import', r.dropped)
    if (ctx.json) return ctx.printJson(r)
    ctx.print(`${r.name} ${r.chainIds.at(-1) ?? '(no layers)'} (${r.chainIds.length} layers, ${r.reused} reused)`)
  },
}

/** The space an image's layers take, each counted once; a missing layer counts nothing. */
async function imageSize(sn: Snapshotter, diffIds: string[]): Promise<number> {
  let size = 0
  for (const id of chainIds(diffIds)) {
    try {
      size += (await sn.usage(id)).size
    } catch (err) {
      if (!isSnapshotterError(err, 'ERR_NOT_FOUND')) throw err
    }
  }
  return size
}

export const images: Command = {
  name: 'images',
  readOnly: true,
  summary: 'list the images in the store: tag, id, layers, size',
  usage: 'images',
  args: [0, 0],
  async run(ctx) {
    const sn = await ctx.sn()
    const recs = (await imagesOf(sn).list()).sort((a, b) => a.name.localeCompare(b.name))
    const rows = []
    for (const r of recs) {
      rows.push({
        tag: r.name,
        id: r.configDigest,
        layers: r.diffIds.length,
        size: await imageSize(sn, r.diffIds),
        chainId: r.chainId,
        created: new Date(r.created),
      })
    }
    if (ctx.json) return ctx.printJson(rows)
    ctx.table(
      ['TAG', 'ID', 'LAYERS', 'SIZE'],
      rows.map((r) => [r.tag, r.id.slice(7, 19), String(r.layers), humanBytes(r.size)]),
    )
  },
}

export const rmi: Command = {
  name: 'rmi',
  summary: 'remove images, and the layers no other image or snapshot needs',
  usage: 'rmi IMAGE...',
  help: 'A layer another image shares, or a container or commit sits on, stays; strata rm refuses a layer an image uses.',
  args: [1, Infinity],
  async run(ctx, names) {
    const sn = await ctx.sn()
    const results = []
    for (const name of names) {
      const r = await removeImage(sn, name)
      results.push(r)
      if (!ctx.json) ctx.print(`removed ${r.name} (${r.removed.length} layers freed)`)
    }
    if (ctx.json) ctx.printJson(results)
  },
}

export const layerCommands = [diff, apply, importCommand, images, rmi]
