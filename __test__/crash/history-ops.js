'use strict'
// The history the rewrite sweeps of history-crash.spec.ts start from, and the rewrites
// they interrupt. Shared by the test and its child process.

/** h1..h5: a 1-D gzip dataset with an edge chunk, strings, a 2-D dataset, one only in h2. */
async function writeHistory(vf) {
  await vf.stageVersion('h1', (g) => {
    g.createDataset('x', { data: new Float64Array(300).map((_, i) => i), chunks: [128], compression: 'gzip' })
    g.createDataset('s', { data: Array.from({ length: 20 }, (_, i) => `s${i}`), chunks: [8] })
    g.createDataset('m/grid', { data: new Int32Array(20 * 10).map((_, i) => i), shape: [20, 10], chunks: [8, 8] })
  }, { timestamp: 1_000_000n })
  await vf.stageVersion('h2', (g) => {
    g.dataset('x').write([[290, 300]], 777.25)
    g.dataset('s').write([19], 'only-h2')
    g.createDataset('tmp', { data: new Float64Array(10).fill(777.25), chunks: [4] })
  }, { timestamp: 2_000_000n })
  // h3 and h5 undo what h2 and h4 wrote: the markers (777.25, 2053029086, 'only-h2') live only in those.
  await vf.stageVersion('h3', (g) => {
    g.dataset('x').write([[0, 10]], -1)
    g.dataset('x').write([[290, 300]], new Float64Array(10).map((_, i) => 290 + i))
    g.dataset('s').write([19], 's19')
    g.delete('tmp')
  }, { timestamp: 3_000_000n })
  await vf.stageVersion('h4', (g) => {
    g.dataset('m/grid').write([[16, 20], [0, 10]], 2053029086)
  }, { timestamp: 4_000_000n })
  await vf.stageVersion('h5', (g) => {
    g.dataset('x').write([[100, 110]], 5)
    g.dataset('m/grid').write([[16, 20], [0, 10]], new Int32Array(40).map((_, i) => 160 + i))
  }, { timestamp: 5_000_000n })
}

async function rewrite(vf, op) {
  if (op === 'delete') return vf.deleteVersions(['h2', 'h4'])
  if (op === 'compact') return vf.compact()
  if (op === 'modify') return vf.modifyMetadata('m/grid', { chunks: [10, 10], dtype: 'float64', fillValue: 160 })
  throw new Error(`unknown rewrite ${op}`)
}

module.exports = { writeHistory, rewrite }
