#!/usr/bin/env node
/**
 * strata [--root DIR] [--driver overlay|native|row] [--json] [--wait DURATION | --no-wait] <command> [args]
 * Exit codes: 0 ok, 1 error, 2 usage. Errors are one line naming the key and the code.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import '../index.js'
import { InterruptedError, UsageError, type Command } from './command.js'
import { CliContext, DEFAULT_WAIT_MS, defaultRoot, parseDuration } from './context.js'
import { setHolderInfo } from '../core/storelock.js'
import { snapshotCommands } from './commands/snapshots.js'
import { maintenanceCommands } from './commands/maintenance.js'
import { conformanceCommand } from './commands/conformance.js'
import { bench } from './commands/bench.js'
import { layerCommands } from './commands/layers.js'
import { registryCommands } from './commands/registry.js'
import { containerCommands } from './commands/containers.js'
import { serve } from './commands/serve.js'
import { errorLine } from './errorline.js'

const commands: Command[] = [
  ...snapshotCommands,
  ...layerCommands,
  ...containerCommands,
  ...registryCommands,
  ...maintenanceCommands,
  serve,
  conformanceCommand,
  bench,
]

const globalOptions = {
  root: { type: 'string' as const },
  driver: { type: 'string' as const },
  json: { type: 'boolean' as const },
  quiet: { type: 'boolean' as const, short: 'q' },
  wait: { type: 'string' as const },
  'no-wait': { type: 'boolean' as const },
  help: { type: 'boolean' as const, short: 'h' },
  version: { type: 'boolean' as const, short: 'V' },
}

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return [
    'usage: strata [--root DIR] [--driver overlay|native|row] [--json] [-q|--quiet] [--wait DURATION | --no-wait] <command> [args]',
    '       strata --version',
    '',
    "Snapshot storage for container runtimes (containerd's snapshotter API).",
    `Root defaults to ${defaultRoot()} ($STRATA_ROOT overrides); a root remembers its driver.`,
    `One process uses a root at a time: a command waits up to ${DEFAULT_WAIT_MS / 1000} s for it (--wait 2m, --wait 500ms;`,
    '--no-wait fails at once), telling a terminal which pid holds it, and holds it only while it works.',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "strata <command> --help shows a command's arguments.",
  ].join('\n')
}

function commandHelp(c: Command): string {
  return [`usage: strata ${c.usage}`, '', c.summary, ...(c.help ? ['', c.help] : [])].join('\n')
}

/** Finds the command name: the first positional that is not a global option's value. */
function findCommand(argv: string[]): { command: Command | undefined; name: string | undefined } {
  const { positionals } = parseArgs({ args: argv, options: globalOptions, allowPositionals: true, strict: false })
  const name = positionals[0]
  return { name, command: commands.find((c) => c.name === name) }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return `strata ${pkg.version}`
}

/** Set once an error line has been written: one error, one line. */
let spoke = false
function say(line: string): void {
  spoke = true
  process.stderr.write(line)
}

export async function main(argv: string[]): Promise<number> {
  const { command, name } = findCommand(argv)
  if (!command) {
    if (name === undefined && (argv.includes('--version') || argv.includes('-V'))) {
      process.stdout.write(`${version()}\n`)
      return 0
    }
    if (name === undefined) {
      process.stdout.write(mainHelp() + '\n')
      return argv.includes('--help') || argv.includes('-h') ? 0 : 2
    }
    process.stderr.write(`strata: unknown command ${JSON.stringify(name)} (strata --help lists them)\n`)
    return 2
  }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: argv, options: { ...globalOptions, ...command.options }, allowPositionals: true, strict: true })
  } catch (err) {
    process.stderr.write(`strata ${command.name}: ${(err as Error).message}\nusage: strata ${command.usage}\n`)
    return 2
  }
  const opts = parsed.values as Record<string, unknown>
  if (opts.help) {
    process.stdout.write(commandHelp(command) + '\n')
    return 0
  }
  const args = parsed.positionals.slice(parsed.positionals.indexOf(command.name) + 1)
  const [min, max] = command.args
  if (args.length < min || args.length > max) {
    process.stderr.write(`strata ${command.name}: wrong number of arguments\nusage: strata ${command.usage}\n`)
    return 2
  }
  let waitMs: number | undefined
  try {
    if (opts['no-wait'] && opts.wait !== undefined) throw new UsageError('--wait and --no-wait contradict each other')
    waitMs = opts['no-wait'] ? 0 : opts.wait === undefined ? undefined : parseDuration(opts.wait as string)
  } catch (err) {
    process.stderr.write(`strata ${command.name}: ${(err as Error).message}\n`)
    return 2
  }
  setHolderInfo({ kind: 'cli' })
  const ctx = new CliContext({
    waitMs,
    root: opts.root as string | undefined,
    driver: opts.driver as string | undefined,
    json: opts.json as boolean | undefined,
    quiet: opts.quiet as boolean | undefined,
    mustExist: command.readOnly === true,
  })
  try {
    return (await command.run(ctx, args, opts)) ?? 0
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`strata ${command.name}: ${err.message}\n`)
      return 2
    }
    if (err instanceof InterruptedError) {
      say(errorLine(command.name, err, ctx.json))
      return err.signal === 'SIGINT' ? 130 : 143
    }
    say(errorLine(command.name, err, ctx.json))
    if (process.env.STRATA_DEBUG) process.stderr.write(`${(err as Error).stack}\n`)
    return 1
  } finally {
    // The command's own error is the one to report; a store that fails to close is freed with the process.
    await ctx.close().catch(() => {})
  }
}

// A reader that stops early (`strata ls | head -1`) is not an error: stop quietly, as ls(1) does.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw err
})

/**
 * Whatever escapes a command (an error thrown from a stream callback) still
 * ends in one line; after the command has reported its error, an echo of it
 * from a stream it abandoned says nothing new and is dropped.
 */
function lastResort(err: unknown): void {
  if (spoke) {
    if (process.env.STRATA_DEBUG) process.stderr.write(`late: ${(err as Error)?.stack}\n`)
    process.exit(process.exitCode ?? 1)
  }
  say(errorLine(findCommand(process.argv.slice(2)).name ?? 'strata', err, process.argv.includes('--json')))
  if (process.env.STRATA_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`)
  process.exit(1)
}
process.on('uncaughtException', lastResort)

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, lastResort)
