import type { CaseContext } from './context.js'

/** One conformance case: a name that says what it checks, and its body. */
export interface Case {
  /** The group it belongs to (containerd, rules, lifecycle, crash, …). */
  group: string
  name: string
  /** Touches snapshot contents, so it runs through open() and through kernel mounts. */
  content?: boolean
  /** Milliseconds; default 60 s. */
  timeout?: number
  run(t: CaseContext): Promise<void>
}

export function defineCases(group: string, cases: Array<Omit<Case, 'group'>>): Case[] {
  return cases.map((c) => ({ ...c, group }))
}
