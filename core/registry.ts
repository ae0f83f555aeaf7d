/** Drivers by name. Core registers none: the package entry registers the built-in ones. */
import { InvalidArgumentError } from './errors.js'
import type { Snapshotter } from './snapshotter.js'
import { checkWait, openWhenFree } from './storewait.js'

export type DriverFactory = (root: string, options?: Record<string, unknown>) => Promise<Snapshotter>

const drivers = new Map<string, DriverFactory>()

export function registerDriver(name: string, factory: DriverFactory): void {
  if (typeof name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(name)) {
    throw new InvalidArgumentError(`driver name ${JSON.stringify(name)} must be letters, digits, '.', '_' or '-'`)
  }
  if (typeof factory !== 'function') throw new InvalidArgumentError(`driver ${name} needs a factory function`)
  drivers.set(name, factory)
}

export function registeredDrivers(): string[] {
  return [...drivers.keys()]
}

/**
 * Opens `root` with the named driver. `options.wait` (milliseconds, default
 * 0, Infinity for no limit) keeps retrying while another process holds the
 * store, then fails with StoreInUseError (ERR_UNAVAILABLE) naming the holder;
 * every other option goes to the driver.
 */
export async function openSnapshotter(driver: string, root: string, options?: Record<string, unknown>): Promise<Snapshotter> {
  const factory = drivers.get(driver)
  if (!factory) {
    throw new InvalidArgumentError(`unknown driver ${JSON.stringify(driver)} (registered: ${registeredDrivers().join(', ') || 'none'})`)
  }
  if (typeof root !== 'string' || root.length === 0) throw new InvalidArgumentError('root must be a non-empty path')
  if (typeof options !== 'object' || options === null || !Object.hasOwn(options, 'wait')) return factory(root, options)
  const { wait, ...driverOptions } = options
  const ms = checkWait(wait)
  return openWhenFree(() => factory(root, driverOptions), { wait: ms })
}
