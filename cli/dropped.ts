/** The one warning line import and pull print when layers held what the store could not keep. */
import type { CliContext } from './context.js'

export function warnDropped(ctx: CliContext, command: string, dropped: { xattrs: number; devices: number }): void {
  const { xattrs, devices } = dropped
  if (xattrs + devices > 0) ctx.err.write(`strata ${command}: warning: not kept: ${xattrs} extended attributes, ${devices} device nodes\n`)
}
