/**
 * `strata run`, modelled on Docker with overlay2: image → init layer →
 * container layer → kernel mount into a private bundle → `runc run`. Until
 * the runtime starts, a failure removes everything the run made; the mount is
 * always undone. The store is closed while the container runs, so other
 * strata commands (ps, a second run) can use it meanwhile; a label with our
 * pid marks the container as running so they leave it alone. A driver whose
 * mounts this process serves (row, over FUSE) keeps the store open instead.
 */
import { randomBytes } from 'node:crypto'
import { cleanupAfter } from '../core/errors.js'
import { removeIfThere } from '../layers/build.js'
import type { ImageRecord } from '../image/store.js'
import { mountAll } from '../fs/mount.js'
import type { Mount, Snapshotter } from '../core/snapshotter.js'
import type { ImportProgress } from '../image/import.js'
import { containerConfigOf, ociSpec, pathOf, processArgs, processEnv, writeBundle } from './bundle.js'
import { makeBundleDir, removeBundleDir, rootfsOf } from './bundledir.js'
import {
  CONTAINER_LABEL,
  checkNameFree,
  clearRunLabels,
  findContainer,
  generateName,
  hostnameFor,
  INIT_LABEL,
  initLayerName,
  PID_LABEL,
  removeContainer,
  RUN_LABEL,
  type RunState,
} from './containers.js'
import { type ResolveOptions, resolveImage } from './imageref.js'
import { makeInitLayer, readHostResolvConf } from './initlayer.js'
import { checkKernelMountable } from './kernelmount.js'
import { findRuntime, forceDelete, requireRootUser, runBundle } from './ociruntime.js'
import { checkExecutable, resolveUser } from './rootfs.js'
import { SignalGuard } from './signals.js'

export interface RunRequest {
  image: string
  cmd: string[]
  name?: string
  /** Remove the container (and its init layer) when it exits. */
  rm?: boolean
  /** `NAME=value` (or a bare NAME, from our environment) set over the image's Env. */
  env?: string[]
  /** Progress of an import the run starts (IMAGE given as a path). */
  onImportProgress?: (p: ImportProgress) => void
  /** Fetches an image that is neither in the store nor a path (`strata run REF` pulls it). */
  fetchImage?: ResolveOptions['fetch']
}

/** What a run needs from its caller: the store, taken and given back around the container's life. */
export interface RunHost {
  /** The open snapshotter (opened again after `release`), waiting up to `waitMs` while another process holds it. */
  sn(opts?: { waitMs?: number }): Promise<Snapshotter>
  /** Closes the store so other processes can use it while the container runs. */
  release(): Promise<void>
  /** Where the generated container name is written. */
  readonly err: { write(text: string): unknown }
}

interface Created {
  name: string
  /** Set once the runtime process exists: from then on a failure keeps the container. */
  started?: boolean
  mounts: Mount[]
  spec: Record<string, unknown>
}

export async function runContainer(ctx: RunHost, req: RunRequest): Promise<number> {
  requireRootUser()
  const runtime = await findRuntime()
  const signals = new SignalGuard()
  try {
    const sn = await ctx.sn()
    const image = await resolveImage(sn, req.image, {
      ...(req.onImportProgress ? { onProgress: req.onImportProgress } : {}),
      ...(req.fetchImage ? { fetch: req.fetchImage } : {}),
    })
    signals.check()
    const ctr = await createContainer(sn, image, req)
    if (req.name === undefined) ctx.err.write(`${ctr.name}\n`)
    let code: number
    try {
      signals.check()
      code = await start(ctx, runtime, ctr, signals)
    } finally {
      const after = await reopen(ctx)
      // Best effort: a label naming a dead pid reads as an interrupted run, which cleanup clears.
      await clearRunLabels(after, ctr.name).catch(() => {})
      if (req.rm || !ctr.started) await removeContainer(after, await findContainer(after, ctr.name))
    }
    return code
  } finally {
    signals.dispose()
  }
}

/** Init layer, container layer, the checks that need its files; all of it removed again on failure. */
async function createContainer(sn: Snapshotter, image: ImageRecord, req: RunRequest): Promise<Created> {
  const name = req.name ?? generateName()
  await checkNameFree(sn, name)
  const hostname = hostnameFor(name)
  const init = initLayerName(name)
  await makeInitLayer(sn, init, image.chainId, { hostname, hostResolvConf: await readHostResolvConf(), labels: { [INIT_LABEL]: name } })
  try {
    const mounts = await sn.prepare(name, init, { labels: { [CONTAINER_LABEL]: image.name } })
    await checkKernelMountable(mounts, sn.driver, name)
    const cfg = containerConfigOf(image.config)
    const env = processEnv(cfg, hostname, req.env)
    const cwd = cfg.WorkingDir || '/'
    const args = processArgs(cfg, req.cmd)
    const fs = await sn.open(name)
    try {
      await checkExecutable(fs, args[0], { path: pathOf(env), cwd })
      const user = await resolveUser(fs, cfg.User)
      return { name, mounts, spec: ociSpec({ args, env, cwd, user, hostname }) }
    } finally {
      await fs.close()
    }
  } catch (err) {
    throw await cleanupAfter(err, async () => {
      await removeIfThere(sn, name)
      await sn.remove(init)
    })
  }
}

/** Mounts the container into a private bundle, runs it, and always unmounts. */
async function start(ctx: RunHost, runtime: string, ctr: Created, signals: SignalGuard): Promise<number> {
  const bundle = await makeBundleDir()
  const sn = await ctx.sn()
  try {
    await mountAll(ctr.mounts, rootfsOf(bundle))
    await writeBundle(bundle, ctr.spec)
    const id = `strata-${randomBytes(6).toString('hex')}`
    const run: RunState = { runtime, id, bundle }
    await sn.update({ name: ctr.name, labels: { [PID_LABEL]: String(process.pid), [RUN_LABEL]: JSON.stringify(run) } }, [
      `labels.${PID_LABEL}`,
      `labels.${RUN_LABEL}`,
    ])
    // Mounts this process serves (row's FUSE) live only while the store is open.
    if (!sn.capabilities?.servedMounts) await ctx.release()
    signals.check()
    const code = await runBundle(runtime, bundle, id, (kill) => {
      ctr.started = true
      signals.forwardTo(kill)
    })
    if (code > 128) await forceDelete(runtime, id)
    return code
  } finally {
    await removeBundleDir(bundle)
  }
}

/**
 * How long a run waits to take the store back when its container has exited:
 * longer than a command's wait, since giving up leaves the container labelled
 * as interrupted (undone by the next cleanup or rm-container) rather than tidy.
 */
const REOPEN_WAIT_MS = 10 * 60_000

/** Opens the store again once the container has exited, waiting while another process holds it. */
function reopen(ctx: RunHost): Promise<Snapshotter> {
  return ctx.sn({ waitMs: REOPEN_WAIT_MS })
}
