/** Registries: pull (an image into the store) and push (an image of the store to a repository). */
import { warnDropped } from '../dropped.js'
import type { ImageRecord } from '../../image/store.js'
import { imagesOf } from '../../image/store.js'
import type { Snapshotter } from '../../core/snapshotter.js'
import type { ClientOptions } from '../../registry/client.js'
import { dockerConfigCredentials, parseUser } from '../../registry/credentials.js'
import { parsePlatform } from '../../registry/manifest.js'
import { pullImage, type PullProgress } from '../../registry/pull.js'
import { pushImage, type PushProgress } from '../../registry/push.js'
import { formatReference, isReference, parseReference, type Reference, repositoryOf } from '../../registry/reference.js'
import type { Command, OptionSpec } from '../command.js'
import type { CliContext } from '../context.js'
import { layerLines, transfer } from '../progress.js'
import { humanBytes } from './snapshots.js'

const connection: OptionSpec = {
  'plain-http': { type: 'boolean' },
  insecure: { type: 'boolean' },
  user: { type: 'string', short: 'u' },
}

const connectionHelp = [
  '--plain-http speaks HTTP; --insecure falls back to HTTP when HTTPS cannot connect (loopback registries always may,',
  'as docker allows 127.0.0.0/8). --user USER:PASSWORD, else the auths of ~/.docker/config.json ($DOCKER_CONFIG);',
  'bearer-token registries are answered as docker does. Credentials never appear in output or errors.',
].join('\n')

async function clientOptions(ref: Reference, opts: Record<string, unknown>): Promise<ClientOptions> {
  const credentials = typeof opts.user === 'string' ? parseUser(opts.user) : await dockerConfigCredentials(ref.registry)
  return {
    ...(opts['plain-http'] === true ? { plainHttp: true } : {}),
    ...(opts.insecure === true ? { insecure: true } : {}),
    ...(credentials ? { credentials } : {}),
  }
}

function pullLines(ctx: CliContext): ((p: PullProgress) => void) | undefined {
  const draw = layerLines(ctx)
  if (!draw) return undefined
  const started = new Map<number, number>()
  return (p) => {
    const id = p.digest.slice(7, 19)
    if (!started.has(p.layer)) started.set(p.layer, Date.now())
    const text =
      p.phase === 'reused'
        ? 'already present'
        : p.phase === 'downloading'
          ? transfer(p.bytes, p.total, started.get(p.layer) ?? Date.now())
          : p.phase === 'applying'
            ? `${humanBytes(p.total)} downloaded, unpacking`
            : `${humanBytes(p.total)} done`
    draw(p.layer, p.layers, `${id} ${text}`, p.phase !== 'downloading')
  }
}

/**
 * Pulls `image` for `strata run` when it names a registry (`host[:port]/name…`,
 * `docker.io/…`); an image pulled before is used as it is. A bare name
 * (`busybox`) is never fetched by a run: a typo stays a local ERR_NOT_FOUND
 * rather than a trip to docker.io (`strata pull busybox` goes there).
 */
export async function pullForRun(ctx: CliContext, sn: Snapshotter, image: string): Promise<ImageRecord | undefined> {
  if (!isReference(image) || !namesRegistry(image)) return undefined
  const ref = parseReference(image)
  const name = formatReference(ref)
  const known = await imagesOf(sn).get(name)
  if (known) return known
  const onProgress = pullLines(ctx)
  await pullImage(sn, ref, { ...(await clientOptions(ref, {})), ...(onProgress ? { onProgress } : {}) })
  return imagesOf(sn).get(name)
}

function namesRegistry(text: string): boolean {
  const first = text.split('/')[0]
  return text.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
}

export const pull: Command = {
  name: 'pull',
  summary: 'pull an image from a registry into the store (layers already stored are not fetched)',
  usage: 'pull REF [--platform os/arch] [--tag TAG] [--plain-http|--insecure] [--user USER:PASSWORD]',
  help: [
    'REF as docker takes it: busybox, team/app:1.0, host:5000/app@sha256:... (docker.io names normalised as docker does).',
    'An index picks --platform (default linux and this machine). Layers download in parallel and unpack in order;',
    'each blob and layer is verified against its digest. The image is kept as the full reference, or --tag.',
    connectionHelp,
  ].join('\n'),
  options: { ...connection, platform: { type: 'string' }, tag: { type: 'string' } },
  args: [1, 1],
  async run(ctx, [text], opts) {
    const ref = parseReference(text)
    const onProgress = pullLines(ctx)
    const r = await pullImage(await ctx.sn(), ref, {
      ...(await clientOptions(ref, opts)),
      ...(typeof opts.platform === 'string' ? { platform: parsePlatform(opts.platform) } : {}),
      ...(typeof opts.tag === 'string' ? { tag: opts.tag } : {}),
      ...(onProgress ? { onProgress } : {}),
    })
    warnDropped(ctx, 'pull', r.dropped)
    if (ctx.json) return ctx.printJson(r)
    ctx.print(
      `${r.name} ${r.chainIds.at(-1) ?? '(no layers)'} (${r.chainIds.length} layers, ${r.reused} reused, ${humanBytes(r.fetchedBytes)} fetched)`,
    )
  },
}

function pushLines(ctx: CliContext): ((p: PushProgress) => void) | undefined {
  const draw = layerLines(ctx)
  if (!draw) return undefined
  const started = new Map<number, number>()
  return (p) => {
    if (!started.has(p.layer)) started.set(p.layer, Date.now())
    const text =
      p.phase === 'uploading'
        ? `uploading ${humanBytes(p.bytes)}`
        : p.phase === 'present'
          ? 'already in the registry'
          : p.phase === 'checking'
            ? 'checking'
            : p.phase
    draw(p.layer, p.layers, text, p.phase !== 'uploading')
  }
}

export const push: Command = {
  name: 'push',
  summary: 'push an image of the store to a registry repository',
  usage: 'push IMAGE REF [--plain-http|--insecure] [--user USER:PASSWORD]',
  help: [
    'Layers the registry has are skipped (HEAD), layers pulled from another repository of the same registry are',
    'mounted, the rest go as gzip blobs (exportDiff), streamed in chunks. A pulled image keeps every digest.',
    'Prints REF@DIGEST.',
    connectionHelp,
  ].join('\n'),
  options: connection,
  args: [2, 2],
  async run(ctx, [image, text], opts) {
    const ref = parseReference(text)
    const onProgress = pushLines(ctx)
    const r = await pushImage(await ctx.sn(), image, ref, { ...(await clientOptions(ref, opts)), ...(onProgress ? { onProgress } : {}) })
    if (ctx.json) return ctx.printJson(r)
    ctx.print(`${repositoryOf(ref)}@${r.digest}`)
    const counts = ['present', 'mounted', 'copied', 'uploaded'].map((how) => `${r.layers.filter((l) => l.how === how).length} ${how}`)
    if (!ctx.quiet) ctx.err.write(`layers: ${counts.join(', ')}; ${humanBytes(r.uploadedBytes)} of layers sent\n`)
  },
}

export const registryCommands = [pull, push]
