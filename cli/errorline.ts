/** How an error reaches a CLI user: one line, never a stack. */
import { isSnapshotterError } from '../core/errors.js'

/**
 * The one line an error becomes: `strata CMD: CODE: message`, the code said
 * once even when the message starts with it (Node's `ENOSPC: no space…`);
 * under --json, `{"command","code","message"}` instead.
 */
export function errorLine(command: string, err: unknown, json: boolean): string {
  const raw = (err as Error)?.message ?? String(err)
  const code = isSnapshotterError(err) || typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined
  const message = code !== undefined && raw.startsWith(`${code}:`) ? raw.slice(code.length + 1).trimStart() : raw
  if (json) return `${JSON.stringify({ command, ...(code === undefined ? {} : { code }), message })}\n`
  return `strata ${command}: ${code === undefined ? '' : `${code}: `}${message}\n`
}
