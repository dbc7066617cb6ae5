import test from 'ava'

import { VersionedFile } from '../index.js'
import { ds, rawRows, tmpFile } from './helpers.js'

test('100 versions changing one chunk each of a 1,000-chunk dataset leave exactly 1,100 slots', async (t) => {
  const p = tmpFile('dedup')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const C = 16
  const data = new Float64Array(1000 * C).map((_, i) => i)
  await vf.stageVersion('v0', (g) => void g.createDataset('x', { data, chunks: [C] }))
  t.is(rawRows(p, 'x'), 1000 * C)
  for (let i = 1; i <= 100; i++) {
    await vf.stageVersion(`v${i}`, (g) => ds(g, 'x').write([(i * 7) % 1000 * C + 3], -i))
  }
  t.is(rawRows(p, 'x') / C, 1100)
  // Rewriting identical data adds no slot.
  await vf.stageVersion('same', (g) => ds(g, 'x').write(null, data))
  t.is(rawRows(p, 'x') / C, 1100)
  const same = await ds(vf.version('same'), 'x').read()
  t.deepEqual(same, data)
  const v50 = await ds(vf.version('v50'), 'x').read([[350 * C, 351 * C]])
  t.is(v50[3], -50)
  t.is(v50[4], 350 * C + 4)
  vf.close()
})

test('identical chunks within one version are stored once', async (t) => {
  const p = tmpFile('dedup2')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const data = new Int32Array(40).map((_, i) => i % 10)
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data, chunks: [10] }))
  t.is(rawRows(p, 'x'), 10)
  t.deepEqual(await ds(vf.version('v1'), 'x').read(), data)
  vf.close()
})

test('chunks never written stay unmapped and cost nothing', async (t) => {
  const p = tmpFile('sparse')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    g.createDataset('s', { shape: [1000, 1000], chunks: [100, 100], dtype: 'float32', fillValue: 0.5 })
    ds(g, 's').write([999, 999], 7)
  })
  t.is(rawRows(p, 's'), 100)
  const v = ds(vf.version('v1'), 's')
  t.deepEqual(Array.from(await v.read([[998, 1000], [998, 1000]])), [0.5, 0.5, 0.5, 7])
  vf.close()
})
