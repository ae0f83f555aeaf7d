/**
 * The crash disk's workload process: `node child.js <spec json>`. It opens a
 * store on the crash disk, runs the setup and then the sequence, and after
 * each operation returns writes `ack <i>` to the mark file (0 is the
 * setup), so the log shows which operations had returned before each flush.
 * It closes the store at the end; a cut may fall anywhere in all of it.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { openSnapshotter } from '../index.js'
import { runOp, setup, setupModel, type OpName } from './workload.js'

export interface ChildSpec {
  driver: string
  root: string
  ops: OpName[]
  mark: string
  busybox?: string
}

async function main(spec: ChildSpec): Promise<void> {
  const mark = openSync(spec.mark, 'w')
  const ack = (text: string): void => {
    writeSync(mark, `${text}\n`)
  }
  try {
    const sn = await openSnapshotter(spec.driver, spec.root)
    try {
      await setup(sn)
      ack('ack 0')
      let m = setupModel()
      for (const [n, op] of spec.ops.entries()) {
        ack(`start ${n + 1}`)
        m = await runOp(sn, m, op, n + 1, spec.busybox === undefined ? {} : { busybox: spec.busybox })
        ack(`ack ${n + 1}`)
      }
    } finally {
      await sn.close()
    }
    ack('closed')
  } finally {
    closeSync(mark)
  }
}

main(JSON.parse(process.argv[2]) as ChildSpec).catch((err: unknown) => {
  console.error((err as Error).stack ?? String(err))
  process.exitCode = 1
})
