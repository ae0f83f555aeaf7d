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
  run(ctx: CliContext, args: string[], opts: Record<string, unknown>): Promise<number | void>
}

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {}
