/**
 * Holds off SIGINT, SIGTERM, SIGHUP and SIGQUIT while `strata run` owns
 * mounts and half-made snapshots: a signal is remembered (and passed to the
 * runtime when one runs) so the run can unwind and clean up instead of dying
 * with a mount left behind.
 */
import { constants } from 'node:os'
import { FORWARDED } from './ociruntime.js'

export class SignalGuard {
  #received?: NodeJS.Signals
  #forward?: (s: NodeJS.Signals) => void
  readonly #handler = (s: NodeJS.Signals): void => {
    this.#received ??= s
    this.#forward?.(s)
  }

  constructor() {
    for (const s of FORWARDED) process.on(s, this.#handler)
  }

  get received(): NodeJS.Signals | undefined {
    return this.#received
  }

  /** The shell's exit code for the signal received (128 + n), or undefined. */
  get exitCode(): number | undefined {
    return this.#received ? 128 + constants.signals[this.#received] : undefined
  }

  forwardTo(send: (s: NodeJS.Signals) => void): void {
    this.#forward = send
  }

  /** Throws when a signal came: the caller stops before starting anything more. */
  check(): void {
    if (this.#received) throw Object.assign(new Error(`interrupted by ${this.#received}`), { code: 'EINTR' })
  }

  dispose(): void {
    for (const s of FORWARDED) process.off(s, this.#handler)
  }
}
