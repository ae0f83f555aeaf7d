/** The runtime prototype: run, ps, rm-container, commit-container. */
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { commitContainer } from '../../runtime/commit.js'
import { findContainer, listContainers, removeContainer } from '../../runtime/containers.js'
import { ensureStopped } from '../../runtime/reap.js'
import { runContainer } from '../../runtime/run.js'
import { importProgress } from '../progress.js'
import { pullForRun } from './registry.js'
import { humanBytes } from './snapshots.js'

export const run: Command = {
  name: 'run',
  summary: 'run a command in a new container of IMAGE (a tag, a path to import, or a registry reference to pull) with runc',
  usage: 'run [--name NAME] [--rm] [-e NAME=VALUE]... IMAGE [-- CMD [ARG]...]',
  help: [
    "Makes <name>-init (hosts, hostname, resolv.conf) on the image's top layer and the container layer <name> on it,",
    "mounts it, writes an OCI bundle and runs it with runc (or crun) as root; exits with the command's exit code.",
    "CMD replaces the image's Cmd and keeps its Entrypoint. Without --name a name is made up and printed on stderr.",
    "-e/--env sets a variable over the image's Env (a bare NAME passes ours on, as docker run -e).",
    'IMAGE naming a registry (host:port/name:tag, docker.io/...) is pulled when the store lacks it.',
    'The container is kept for ps, commit-container and rm-container unless --rm. Needs root and a driver with',
    'kernel mounts (native, overlay).',
  ].join('\n'),
  options: { name: { type: 'string' }, rm: { type: 'boolean' }, env: { type: 'string', short: 'e', multiple: true } },
  args: [1, Infinity],
  async run(ctx, [image, ...cmd], opts) {
    const env = (opts.env as string[] | undefined) ?? []
    const nameless = env.find((e) => e === '' || e.startsWith('='))
    if (nameless !== undefined) throw new UsageError(`--env ${JSON.stringify(nameless)}: a variable needs a name`)
    const onImportProgress = importProgress(ctx)
    return runContainer(ctx, {
      image,
      cmd,
      rm: opts.rm === true,
      env,
      ...(opts.name === undefined ? {} : { name: opts.name as string }),
      ...(onImportProgress === undefined ? {} : { onImportProgress }),
      fetchImage: (sn, ref) => pullForRun(ctx, sn, ref),
    })
  },
}

function ago(d: Date): string {
  const s = Math.max(0, Math.round((Date.now() - d.getTime()) / 1000))
  if (s < 60) return `${s} seconds ago`
  if (s < 3600) return `${Math.round(s / 60)} minutes ago`
  if (s < 86400) return `${Math.round(s / 3600)} hours ago`
  return `${Math.round(s / 86400)} days ago`
}

export const ps: Command = {
  name: 'ps',
  readOnly: true,
  summary: 'list containers: name, image, created, status, the space their layer uses',
  usage: 'ps',
  args: [0, 0],
  async run(ctx) {
    const sn = await ctx.sn()
    const rows = []
    for (const c of await listContainers(sn)) {
      rows.push({
        name: c.name,
        image: c.image,
        created: c.created,
        status: c.pid !== undefined ? 'running' : c.interrupted ? 'interrupted' : 'stopped',
        usage: await sn.usage(c.name),
      })
    }
    if (ctx.json) return ctx.printJson(rows)
    ctx.table(
      ['NAME', 'IMAGE', 'CREATED', 'STATUS', 'SIZE'],
      rows.map((r) => [r.name, r.image, ago(r.created), r.status, humanBytes(r.usage.size)]),
    )
  },
}

export const rmContainer: Command = {
  name: 'rm-container',
  summary: 'remove a stopped container with its init layer (undoing a run that was killed)',
  usage: 'rm-container NAME...',
  args: [1, Infinity],
  async run(ctx, names) {
    const sn = await ctx.sn()
    for (const name of names) {
      const c = await findContainer(sn, name)
      await ensureStopped(sn, c, 'remove')
      await removeContainer(sn, c)
    }
  },
}

export const commitContainerCommand: Command = {
  name: 'commit-container',
  summary: "make a stopped container's changes a new image layer, recorded as image TAG",
  usage: 'commit-container NAME --tag TAG',
  help: "The layer is the container's diff against its init layer (as docker commit), stored under its ChainID;\nTAG's config is the image's with the new DiffID appended.",
  options: { tag: { type: 'string' } },
  args: [1, 1],
  async run(ctx, [name], opts) {
    if (typeof opts.tag !== 'string') throw new UsageError('--tag TAG is required')
    const { image, layer } = await commitContainer(await ctx.sn(), name, opts.tag)
    if (ctx.json)
      return ctx.printJson({ tag: image.name, chainId: layer.chainId, diffId: layer.diffId, size: layer.size, reused: layer.reused })
    ctx.print(`${image.name} ${layer.chainId}`)
  },
}

export const containerCommands = [run, ps, rmContainer, commitContainerCommand]
