/** A first-come, first-served async lock: one mutation of a store at a time. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve()

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.#tail
    let release!: () => void
    this.#tail = new Promise<void>((resolve) => (release = resolve))
    await previous
    try {
      return await fn()
    } finally {
      release()
    }
  }
}
