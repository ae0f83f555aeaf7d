/** Assertions the suite uses, independent of any test runner. */
import assert from 'node:assert/strict'

export { assert }

/** Awaits `promise` and checks it rejects with `code` (and, if given, a message containing `text`). */
export async function rejects(promise: Promise<unknown>, code: string, text?: string): Promise<Error> {
  let err: unknown
  try {
    await promise
  } catch (e) {
    err = e
  }
  if (err === undefined) throw new assert.AssertionError({ message: `expected a rejection with ${code}, but the call succeeded` })
  const got = (err as { code?: unknown }).code
  if (got !== code) {
    throw new assert.AssertionError({
      message: `expected ${code}, got ${String(got)}: ${(err as Error).message ?? String(err)}`,
    })
  }
  if (text !== undefined && !String((err as Error).message).includes(text)) {
    throw new assert.AssertionError({ message: `expected the message to contain ${JSON.stringify(text)}: ${(err as Error).message}` })
  }
  return err as Error
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}
