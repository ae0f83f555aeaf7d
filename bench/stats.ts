/** Small statistics for noisy machines: medians with their spread, never means alone. */

export interface Spread {
  median: number
  min: number
  max: number
  n: number
}

export function spread(samples: number[]): Spread {
  if (samples.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 }
  const s = [...samples].sort((a, b) => a - b)
  const mid = s.length >> 1
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
  return { median, min: s[0], max: s[s.length - 1], n: s.length }
}

export function median(samples: number[]): number {
  return spread(samples).median
}

/** Milliseconds with a sensible number of digits. */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–'
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`
  if (ms < 10) return `${ms.toFixed(2)} ms`
  if (ms < 1000) return `${ms.toFixed(0)} ms`
  return `${(ms / 1000).toFixed(2)} s`
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = Math.abs(n)
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  const sign = n < 0 ? '-' : ''
  return i === 0 ? `${sign}${v} B` : `${sign}${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`
}

export function fmtSpread(s: Spread, fmt: (n: number) => string): string {
  if (s.n <= 1) return fmt(s.median)
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '–'
  return r >= 100 ? `${r.toFixed(0)}×` : r >= 10 ? `${r.toFixed(1)}×` : `${r.toFixed(2)}×`
}

export async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = process.hrtime.bigint()
  const out = await fn()
  return [Number(process.hrtime.bigint() - start) / 1e6, out]
}
