/**
 * The daemon's log: one line per event on a stream (stderr by default),
 * `key=value` text for people or one JSON object per line for collectors.
 */
export type LogFormat = 'text' | 'json'
export type LogLevel = 'info' | 'warn' | 'error'
export type LogFields = Record<string, string | number | boolean | undefined>

export interface Logger {
  log(level: LogLevel, msg: string, fields?: LogFields): void
}

/** A value that needs no quotes in the text format. */
const BARE = /^[A-Za-z0-9_.:/@+-]+$/

function textLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  const quote = (v: string) => (BARE.test(v) ? v : JSON.stringify(v))
  const parts = [`time=${time}`, `level=${level}`, `msg=${quote(msg)}`]
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) parts.push(`${k}=${quote(String(v))}`)
  return parts.join(' ')
}

export function createLogger(opts: { format?: LogFormat; stream?: NodeJS.WritableStream } = {}): Logger {
  const format = opts.format ?? 'text'
  const stream = opts.stream ?? process.stderr
  return {
    log(level, msg, fields = {}) {
      const time = new Date().toISOString()
      const line = format === 'json' ? JSON.stringify({ time, level, msg, ...fields }) : textLine(time, level, msg, fields)
      stream.write(line + '\n')
    },
  }
}

/** A logger that drops everything (library default). */
export const silentLogger: Logger = { log() {} }
