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

/** One Mutex per key (a mount target, say), dropped again once nobody waits on it. */
export class KeyedMutex {
  readonly #locks = new Map<string, { mutex: Mutex; users: number }>()

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    let lock = this.#locks.get(key)
    if (!lock) {
      lock = { mutex: new Mutex(), users: 0 }
      this.#locks.set(key, lock)
    }
    lock.users++
    try {
      return await lock.mutex.run(fn)
    } finally {
      if (--lock.users === 0) this.#locks.delete(key)
    }
  }
}
