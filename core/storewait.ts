/**
 * Waiting for a store another process holds: retry the open with backoff
 * until it succeeds or the wait is over. Polling, because LevelDB's lock has
 * no way to wait on it; each refused attempt costs a failed lock (no LevelDB
 * file is read), so a short, jittered interval is cheap and keeps waiters
 * from retrying in step.
 */
import { InvalidArgumentError } from './errors.js'
import { type Holder, StoreInUseError } from './storelock.js'

export interface WaitOptions {
  /** How long to keep trying, in milliseconds: 0 (the default) tries once, Infinity waits for good. */
  wait?: number
  /** Called when the first attempt is refused and again whenever the holder changes. */
  onBusy?: (holder: Holder | undefined, root: string) => void
}

const FIRST_DELAY_MS = 10
const MAX_DELAY_MS = 250

/** Checks a `wait` option: a non-negative number of milliseconds (Infinity allowed). */
export function checkWait(wait: unknown): number {
  if (wait === undefined) return 0
  if (typeof wait !== 'number' || Number.isNaN(wait) || wait < 0) {
    throw new InvalidArgumentError(`wait must be a non-negative number of milliseconds, not ${JSON.stringify(wait)}`)
  }
  return wait
}

/** Runs `open` until it does not fail with StoreInUseError or the wait is over (then the last refusal, with the time waited). */
export async function openWhenFree<T>(open: () => Promise<T>, opts: WaitOptions = {}): Promise<T> {
  const wait = checkWait(opts.wait)
  const start = Date.now()
  let delay = FIRST_DELAY_MS
  let reported: number | undefined | null = null
  for (;;) {
    try {
      return await open()
    } catch (err) {
      if (!(err instanceof StoreInUseError)) throw err
      const waited = Date.now() - start
      if (waited >= wait) throw wait === 0 ? err : new StoreInUseError(err.root, err.holder, { waitedMs: waited, cause: err })
      if (opts.onBusy && reported !== (err.holder?.pid ?? undefined)) {
        reported = err.holder?.pid
        opts.onBusy(err.holder, err.root)
      }
      const pause = Math.min(delay * (0.5 + Math.random()), wait - waited)
      await new Promise((resolve) => setTimeout(resolve, pause))
      delay = Math.min(delay * 2, MAX_DELAY_MS)
    }
  }
}
