/** Chains deeper than containerd's 128 layers, and the driver's declared depth limit. */
import { defineCases, type Case } from '../case.js'
import { rejects } from '../assert.js'
import { layersMount } from './containerd.js'

export function deepCases(depths: number[]): Case[] {
  return defineCases('deep', [
    ...depths.map((depth) => ({
      name: `${depth}LayersMount: a chain of ${depth} layers mounts and reads like a flat tree`,
      content: true,
      timeout: 600_000,
      run: (t: Parameters<Case['run']>[0]) => layersMount(t, depth),
    })),
    {
      name: 'a chain deeper than the driver declares fails cleanly with ERR_FAILED_PRECONDITION',
      run: async (t) => {
        const sn = await t.sn()
        const max = t.capabilities(sn).maxDepth
        if (max === undefined) return t.skip('the driver declares no depth limit')
        // maxDepth counts parents (core refuses a chain longer than it): the top
        // of max + 1 layers has max parents, and a snapshot on it one too many.
        let parent: string | undefined
        for (let i = 0; i <= max; i++) {
          await sn.prepare(`d${i}-a`, parent)
          await sn.commit(`d${i}`, `d${i}-a`)
          parent = `d${i}`
        }
        await rejects(sn.prepare('too-deep', parent), 'ERR_FAILED_PRECONDITION')
        await rejects(sn.view('too-deep', parent), 'ERR_FAILED_PRECONDITION')
      },
    },
  ])
}
