/** `strata conformance MODULE`: the shared suite against any driver module. */
import { existsSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Command } from '../command.js'
import { UsageError } from '../command.js'
import { runSuite } from '../../conformance/runner.js'
import type { Make } from '../../conformance/context.js'

/** A file, a directory with index.js, or a package name, as node would find it from the cwd. */
export function resolveModule(spec: string): string {
  const path = resolve(spec)
  const candidates = [path, `${path}.js`, `${path}.mjs`, join(path, 'index.js'), join(path, 'index.mjs')]
  for (const c of candidates) if (existsSync(c) && statSync(c).isFile()) return c
  try {
    return createRequire(join(process.cwd(), 'noop.js')).resolve(spec)
  } catch {
    throw new UsageError(`cannot find module ${JSON.stringify(spec)}`)
  }
}

export async function loadMake(file: string): Promise<Make> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown }
  if (typeof mod.default !== 'function') {
    throw new UsageError(`${file} must have a default export make(root) returning a Snapshotter`)
  }
  return mod.default as Make
}

export const conformanceCommand: Command = {
  name: 'conformance',
  summary: 'run the conformance suite against a driver module (default export: make(root))',
  usage: 'conformance MODULE [--filter TEXT] [--crash-iterations N] [--deep N]...',
  help:
    'Prints one line per case and a closing "N passed, N failed"; exits 1 on any failure.\n' +
    'Content cases run through open() and, as root, through kernel mounts of mounts().',
  options: {
    filter: { type: 'string' },
    'crash-iterations': { type: 'string' },
    deep: { type: 'string', multiple: true },
  },
  args: [1, 1],
  async run(ctx, [spec], opts) {
    const file = resolveModule(spec)
    const make = await loadMake(file)
    const iterations = opts['crash-iterations'] === undefined ? undefined : Number(opts['crash-iterations'])
    if (iterations !== undefined && !(Number.isInteger(iterations) && iterations >= 0)) {
      throw new UsageError('--crash-iterations takes a whole number')
    }
    const deep = ((opts.deep as string[] | undefined) ?? []).map(Number)
    if (deep.some((d) => !(Number.isInteger(d) && d > 1))) throw new UsageError('--deep takes a depth above 1')
    const report = await runSuite(make, {
      child: { module: file },
      filter: opts.filter as string | undefined,
      crashIterations: iterations,
      deepChains: deep,
      onResult(id, outcome, ms) {
        if (ctx.json) return
        if (outcome.status === 'passed') ctx.print(`ok    ${id} (${ms} ms)`)
        else if (outcome.status === 'skipped') ctx.print(`skip  ${id}: ${outcome.reason}`)
        else ctx.print(`FAIL  ${id}: ${outcome.error.message.split('\n').join('\n      ')}`)
      },
    })
    if (ctx.json) {
      ctx.printJson(
        report.results.map((r) => ({
          id: r.id,
          status: r.outcome.status,
          ms: r.ms,
          ...(r.outcome.status === 'failed' ? { error: r.outcome.error.message } : {}),
          ...(r.outcome.status === 'skipped' ? { reason: r.outcome.reason } : {}),
        })),
      )
    } else {
      if (report.skipped > 0) ctx.print(`${report.skipped} skipped`)
      ctx.print(`${report.passed} passed, ${report.failed} failed`)
    }
    return report.failed === 0 ? 0 : 1
  },
}
