/** Shared test helpers: requirements that skip on a developer machine but fail under CI. */
import { execFileSync } from 'node:child_process'
import type { TestContext } from 'vitest'

export const isRoot = process.getuid?.() === 0
export const underCI = process.env.CI === 'true' || process.env.CI === '1'

/** Skips the test when `ok` is false, except under CI, where it fails. */
export function requireThat(ctx: TestContext, ok: boolean, what: string): void {
  if (ok) return
  if (underCI) throw new Error(`${what}, and CI must not skip it`)
  ctx.skip(what)
}

export function requireRoot(ctx: TestContext, what: string): void {
  requireThat(ctx, isRoot, `${what} needs root`)
}

export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export function requireTool(ctx: TestContext, name: string): void {
  requireThat(ctx, hasTool(name), `the ${name} tool is missing`)
}
