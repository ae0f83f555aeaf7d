/**
 * Long synchronous walks (copy, disk usage) give the event loop a turn every
 * few milliseconds, so a server in the same process (a FUSE mount, strata
 * serve) keeps answering while they run.
 */
const SLICE_MS = 8

export class Yielder {
  #deadline = Date.now() + SLICE_MS

  /** Resolves at once inside the current slice; after it, on the next turn of the loop. */
  async maybeYield(): Promise<void> {
    if (Date.now() < this.#deadline) return
    await new Promise<void>((resolve) => setImmediate(resolve))
    this.#deadline = Date.now() + SLICE_MS
  }
}
