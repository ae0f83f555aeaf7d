/** What a CLI command is: a name, its options, its help, and what it runs. */
import type { ParseArgsConfig } from 'node:util'
import type { CliContext } from './context.js'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>

export interface Command {
  name: string
  /** One line for `strata --help`. */
  summary: string
  /** The usage line after `strata`, e.g. `prepare KEY [PARENT] [--label k=v]...`. */
  usage: string
  /** More help text, shown by `strata <command> --help`. */
  help?: string
  options?: OptionSpec
  /** Positional arguments: [min, max] (max Infinity for "any number"). */
  args: [number, number]
  /** Only reads the store: on a root that does not exist it says so and creates nothing. */
  readOnly?: boolean
  run(ctx: CliContext, args: string[], opts: Record<string, unknown>): Promise<number | void>
}

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {}

/** The command stopped for SIGINT or SIGTERM after undoing its partial work: exit 128 + the signal number. */
export class InterruptedError extends Error {
  readonly signal: 'SIGINT' | 'SIGTERM'
  constructor(signal: 'SIGINT' | 'SIGTERM', message: string) {
    super(message)
    this.signal = signal
  }
}

/**
 * Runs `fn` with a signal that SIGINT or SIGTERM aborts, so a long command
 * undoes what it half made instead of dying with it; a second signal kills
 * as usual. After an abort, rejects with InterruptedError saying `undone`.
 */
export async function interruptible<T>(undone: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController()
  let got: 'SIGINT' | 'SIGTERM' | undefined
  const on = (sig: 'SIGINT' | 'SIGTERM') => () => {
    got = sig
    ctl.abort(new Error(`interrupted by ${sig}`))
    process.removeListener('SIGINT', onInt).removeListener('SIGTERM', onTerm)
  }
  const onInt = on('SIGINT')
  const onTerm = on('SIGTERM')
  process.once('SIGINT', onInt).once('SIGTERM', onTerm)
  try {
    return await fn(ctl.signal)
  } catch (err) {
    if (got !== undefined) throw new InterruptedError(got, `interrupted by ${got}: ${undone}`)
    throw err
  } finally {
    process.removeListener('SIGINT', onInt).removeListener('SIGTERM', onTerm)
  }
}
