'use strict'
// The base history and the one commit that crash.spec.ts interrupts at every change it
// makes to the file. Shared by the test and the child process it aborts.

/** Versions b1..b3: a gzip 1-D dataset, a 2-D one, strings, a group and attributes. */
async function writeBase(vf) {
  await vf.stageVersion('b1', (g) => {
    g.createDataset('x', { data: new Float64Array(5000).map((_, i) => i), chunks: [256], compression: 'gzip' })
    g.createDataset('m/grid', { data: new Int32Array(40 * 30).map((_, i) => i * 3), shape: [40, 30], chunks: [16, 16] })
    g.createDataset('s', { data: Array.from({ length: 50 }, (_, i) => `s${i}`), chunks: [8] })
    g.attrs.set('stage', 1)
  }, { timestamp: 1_000_000n })
  await vf.stageVersion('b2', (g) => {
    g.dataset('x').write([[256, 512]], 2.5)
    g.dataset('m/grid').resize([45, 30])
    g.attrs.set('stage', 2)
  }, { timestamp: 2_000_000n })
  await vf.stageVersion('b3', (g) => {
    g.dataset('s').write([[0, 8]], Array.from({ length: 8 }, (_, i) => `t${i}`))
    g.createDataset('y', { data: new Float64Array(700).fill(7), chunks: [100] })
  }, { timestamp: 3_000_000n })
}

/** The interrupted commit: touches every kind of object the format has. */
async function commitNext(vf) {
  await vf.stageVersion('n4', (g) => {
    const x = g.dataset('x')
    x.resize([5300])
    x.write([[0, 256]], -1)
    x.write([[5000, 5300]], 4.25)
    g.dataset('m/grid').write([[40, 45], [0, 30]], 9)
    g.dataset('s').resize([60])
    g.dataset('s').write([[50, 60]], Array.from({ length: 10 }, (_, i) => `new${i}`))
    g.delete('y')
    g.createDataset('z/deep', { data: new Float64Array(3000).map((_, i) => Math.sin(i)), chunks: [512], compression: 'lzf' })
    g.attrs.set('stage', 4)
    g.attrs.set('note', 'interrupted?')
  }, { timestamp: 4_000_000n })
}

module.exports = { writeBase, commitNext }
