'use strict'
// The versions stream.spec.ts and its child processes write: a base history, and one
// version whose appends go past a small memory budget, so that chunks are written to
// the file ahead of its commit (docs/design/014-bounded-staging.md).

/** Versions a1, a2: a 1-D float64 dataset (gzip), a 2-D int32 one, strings. */
async function writeBase(vf) {
  await vf.stageVersion('a1', (g) => {
    g.createDataset('x', { data: new Float64Array(1000).map((_, i) => i), chunks: [128], compression: 'gzip' })
    g.createDataset('m', { data: new Int32Array(30 * 4).map((_, i) => i), shape: [30, 4], chunks: [8, 4] })
    g.createDataset('s', { data: Array.from({ length: 20 }, (_, i) => `s${i}`), chunks: [8] })
  }, { timestamp: 1_000_000n })
  await vf.stageVersion('a2', (g) => g.dataset('x').write([[0, 10]], -1), { timestamp: 2_000_000n })
}

/** Rows `from`..`from + n` of the appended float64 stream. */
function piece(from, n) {
  return new Float64Array(n).map((_, i) => Math.sin(from + i))
}

/** The spilling version: 12 pieces of 512 rows on x (a budget of 8 KiB), m and s. */
async function appendVersion(vf, hook) {
  await vf.stageVersion('big', async (g) => {
    const x = g.dataset('x')
    for (let p = 0; p < 12; p++) {
      await x.append(piece(1000 + p * 512, 512))
      if (hook) await hook(p)
    }
    await g.dataset('m').append(new Int32Array(12 * 4).fill(9))
    await g.dataset('s').append(Array.from({ length: 30 }, (_, i) => `appended ${i}`))
  }, { memoryBudget: 8192, timestamp: 3_000_000n })
}

module.exports = { writeBase, appendVersion, piece }
