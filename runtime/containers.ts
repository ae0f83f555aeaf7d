/**
 * Containers as the store keeps them: active snapshot `<name>` (the thin
 * writable layer) on committed `<name>-init` (the init layer) on the image's
 * top layer. Labels on `<name>` say it is a container, of which image, and,
 * while `strata run` runs it, which process does; nothing else records them.
 */
import { createHash, randomBytes } from 'node:crypto'
import { AlreadyExistsError, FailedPreconditionError, isSnapshotterError, NotFoundError } from '../core/errors.js'
import type { Info, Snapshotter } from '../core/snapshotter.js'

/** On the container layer: the image name it was made from. */
export const CONTAINER_LABEL = 'strata.io/container.image'
/** On the container layer while a `strata run` process runs it: that process's pid. */
export const PID_LABEL = 'strata.io/container.pid'
/**
 * On the container layer while a `strata run` process runs it: JSON of
 * {@link RunState}, what a later command needs to undo that run if the
 * process dies without cleaning up (SIGKILL, a crash).
 */
export const RUN_LABEL = 'strata.io/container.run'
/** On the init layer: the container it belongs to. */
export const INIT_LABEL = 'strata.io/container.init'

export interface Container {
  name: string
  image: string
  initLayer: string
  /** The image's top layer (ChainID) the init layer sits on; absent for an image without layers. */
  imageLayer?: string
  created: Date
  /** The pid of the `strata run` that runs it, while it runs. */
  pid?: number
  /** Set when the `strata run` that ran it died without undoing its run. */
  interrupted?: RunState
}

/** Where a run put the container: the OCI runtime binary, the runtime's container id, the bundle. */
export interface RunState {
  runtime: string
  id: string
  bundle: string
}

function runStateOf(label: string | undefined): RunState | undefined {
  if (label === undefined) return undefined
  try {
    const v = JSON.parse(label) as Partial<RunState>
    if (typeof v.runtime === 'string' && typeof v.id === 'string' && typeof v.bundle === 'string')
      return { runtime: v.runtime, id: v.id, bundle: v.bundle }
  } catch {
    // a label someone else wrote: nothing to undo
  }
  return undefined
}

export function initLayerName(name: string): string {
  return `${name}-init`
}

export function generateName(): string {
  return `ctr-${randomBytes(4).toString('hex')}`
}

/** The container's name when it is a valid hostname, else a short digest of it. */
export function hostnameFor(name: string): string {
  return /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(name) ? name : createHash('sha256').update(name).digest('hex').slice(0, 12)
}

async function statOrUndefined(sn: Snapshotter, key: string): Promise<Info | undefined> {
  try {
    return await sn.stat(key)
  } catch (err) {
    if (isSnapshotterError(err, 'ERR_NOT_FOUND')) return undefined
    throw err
  }
}

/** Refuses a name whose snapshots exist already, before anything is made. */
export async function checkNameFree(sn: Snapshotter, name: string): Promise<void> {
  for (const key of [name, initLayerName(name)]) {
    if (await statOrUndefined(sn, key)) throw new AlreadyExistsError(`container "${name}": snapshot ${JSON.stringify(key)} already exists`)
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function toContainer(sn: Snapshotter, info: Info): Promise<Container> {
  const init = info.parent === undefined ? undefined : await statOrUndefined(sn, info.parent)
  const pid = Number(info.labels[PID_LABEL])
  const c: Container = { name: info.name, image: info.labels[CONTAINER_LABEL], initLayer: info.parent ?? '', created: info.created }
  if (init?.parent !== undefined) c.imageLayer = init.parent
  if (pid > 0 && alive(pid)) c.pid = pid
  else if (pid > 0) {
    const run = runStateOf(info.labels[RUN_LABEL])
    if (run) c.interrupted = run
  }
  return c
}

export async function findContainer(sn: Snapshotter, name: string): Promise<Container> {
  const info = await statOrUndefined(sn, name)
  if (!info || info.labels[CONTAINER_LABEL] === undefined || info.kind !== 'active') {
    throw new NotFoundError(`container ${JSON.stringify(name)} does not exist (strata ps lists them)`)
  }
  return toContainer(sn, info)
}

export async function listContainers(sn: Snapshotter): Promise<Container[]> {
  const out: Container[] = []
  for await (const info of sn.walk([`labels."${CONTAINER_LABEL}",kind==active`])) out.push(await toContainer(sn, info))
  return out.sort((a, b) => a.created.getTime() - b.created.getTime())
}

export function refuseRunning(c: Container, what: string): void {
  if (c.pid !== undefined)
    throw new FailedPreconditionError(`cannot ${what} container ${JSON.stringify(c.name)}: it is running (strata run pid ${c.pid})`)
}

/** Drops the labels a run sets on its container. */
export async function clearRunLabels(sn: Snapshotter, name: string): Promise<void> {
  await sn.update({ name, labels: {} }, [`labels.${PID_LABEL}`, `labels.${RUN_LABEL}`])
}

/** Removes the container layer, then its init layer when it is the container's own. */
export async function removeContainer(sn: Snapshotter, c: Container): Promise<void> {
  await sn.remove(c.name)
  const init = c.initLayer ? await statOrUndefined(sn, c.initLayer) : undefined
  if (init?.labels[INIT_LABEL] === c.name) await sn.remove(c.initLayer)
}
