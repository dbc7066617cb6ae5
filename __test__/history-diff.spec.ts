// vf.diff(a, b, { path, data }) (README "Maintaining history"): the datasets that differ
// between two versions, from their chunk maps alone, cross-checked against Python
// versioned-hdf5 2.6.0's get_diff on the same file (2.6 semantics: a full chunk that
// became all fill value is no longer mapped, and both report it). About 2 s.
import test from 'ava'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { VENV26_PYTHON, ds, throwsCode, tmpFile, vpyWith } from './helpers.js'

const HISTORY = join(__dirname, 'py', 'history.py')

/** v1..v6 over x (25 floats, chunks 10), s (strings), g/m (5×7 int32, chunks 2×3, fill 9). */
async function build(path: string): Promise<void> {
  const vf = VersionedFile.open(path, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    const x = g.createDataset('x', { data: new Float64Array(25).map((_, i) => i), chunks: [10] })
    x.attrs.set('unit', 'm')
    g.createDataset('s', { data: ['a', 'b', 'c', 'd', 'e'], chunks: [2] })
    g.createGroup('g').createDataset('m', { shape: [5, 7], dtype: 'int32', chunks: [2, 3], fillValue: 9 })
  })
  await vf.stageVersion('v2', (g) => {
    ds(g, 'x').write([3], 30.5)
    ds(g, 'x').attrs.set('unit', 'cm')
    ds(g, 'g/m').write([4, 6], 1)
  })
  await vf.stageVersion('v3', (g) => {
    ds(g, 'x').resize([35])
    ds(g, 'x').write([30], 1)
  })
  await vf.stageVersion('v4', (g) => {
    g.createDataset('y', { data: new Int32Array([1, 2, 3]), chunks: [2] })
    g.delete('s')
  })
  await vf.stageVersion('v5', (g) => ds(g, 'g/m').write([0, 0], 5))
  await vf.stageVersion('v6', (g) => ds(g, 'g/m').write([0, 0], 9))
  vf.close()
}

test('diff: changed chunks, shapes, attributes, added and removed datasets, path filter, data', async (t) => {
  const p = tmpFile('diff')
  await build(p)
  const vf = VersionedFile.open(p, { mode: 'r' })
  t.deepEqual(await vf.diff('v1', 'v1'), [])

  const d12 = await vf.diff('v1', 'v2')
  t.deepEqual(d12.map((d) => [d.path, d.status]), [['g/m', 'changed'], ['x', 'changed']])
  const [m, x] = d12
  t.deepEqual(x.regions.map((r) => r.box), [[[0, 10]]])
  t.deepEqual(x.attrs, ['unit'])
  t.false(x.shapeChanged)
  t.deepEqual(m.regions.map((r) => r.box), [[[4, 5], [6, 7]]], 'the edge chunk, clipped to the shape')
  t.deepEqual(m.attrs, [])
  t.is(x.regions[0].old, undefined, 'no data unless asked for')

  const withData = await vf.diff('v1', 'v2', { path: 'x', data: true })
  t.is(withData.length, 1)
  t.deepEqual(Array.from(withData[0].regions[0].old as Float64Array), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.deepEqual(Array.from(withData[0].regions[0].new as Float64Array), [0, 1, 2, 30.5, 4, 5, 6, 7, 8, 9])

  t.deepEqual((await vf.diff('v1', 'v2', { path: 'g' })).map((d) => d.path), ['g/m'])
  t.deepEqual((await vf.diff('v1', 'v2', { path: 'nothing/here' })), [])

  const d23 = await vf.diff('v2', 'v3', { data: true })
  t.deepEqual(d23.map((d) => d.path), ['x'])
  t.true(d23[0].shapeChanged)
  t.deepEqual([d23[0].oldShape, d23[0].newShape], [[25], [35]])
  t.deepEqual(d23[0].regions.map((r) => r.box), [[[20, 35]]], 'from the last chunk both shapes share in whole')
  t.deepEqual(Array.from(d23[0].regions[0].old as Float64Array), [20, 21, 22, 23, 24])
  t.is((d23[0].regions[0].new as Float64Array).length, 15)

  const d34 = await vf.diff('v3', 'v4', { data: true })
  t.deepEqual(d34.map((d) => [d.path, d.status]), [['s', 'removed'], ['y', 'added']])
  t.deepEqual(d34[0].regions.map((r) => r.box), [[[0, 5]]])
  t.deepEqual(d34[0].regions[0].new, null)
  t.deepEqual(d34[0].regions[0].old, ['a', 'b', 'c', 'd', 'e'])
  t.deepEqual(d34[1].regions.map((r) => r.box), [[[0, 3]]])
  t.is(d34[1].oldShape, undefined, 'absent: not in the first version')
  t.deepEqual(d34[1].newDtype, 'int32')

  // A full chunk back to all fill value is no longer mapped: it changed, to the fill.
  const d56 = await vf.diff('v5', 'v6', { data: true })
  t.deepEqual(d56.map((d) => d.path), ['g/m'])
  t.deepEqual(d56[0].regions.map((r) => r.box), [[[0, 2], [0, 3]]])
  t.deepEqual(Array.from(d56[0].regions[0].new as Int32Array), [9, 9, 9, 9, 9, 9])
  t.deepEqual(Array.from(d56[0].regions[0].old as Int32Array), [5, 9, 9, 9, 9, 9])
  // v4 and v6 hold the same m (v6 undid v5): the same slots, no difference.
  t.deepEqual((await vf.diff('v4', 'v6')).map((d) => d.path), [])

  await throwsCode(t, () => vf.diff('v1', 'nope'), 'VERSION_NOT_FOUND')
  await throwsCode(t, () => vf.diff('v1', 'v2', { path: 5 as unknown as string }), 'INVALID_ARGUMENT')
  vf.close()
})

test("diff agrees with Python 2.6's get_diff on the same file", async (t) => {
  const p = tmpFile('diff-py')
  await build(p)
  const vf = VersionedFile.open(p, { mode: 'r' })
  // (Python's get_diff fails on a dataset never written, stored without mappings: g/m in v1.)
  for (const [a, b, name] of [['v1', 'v2', 'x'], ['v2', 'v5', 'g/m'], ['v4', 'v5', 'g/m'], ['v5', 'v6', 'g/m'], ['v2', 'v6', 'g/m'], ['v4', 'v6', 'g/m'], ['v1', 'v1', 'x'], ['v3', 'v4', 'x']]) {
    const ours = (await vf.diff(a, b, { path: name })).flatMap((d) => d.regions.map((r) => r.box))
    const theirs = vpyWith<number[][][]>(VENV26_PYTHON, HISTORY, 'diff', p, name, a, b)
    t.deepEqual(ours.sort(), theirs, `${name} ${a}→${b}`)
  }
  vf.close()
})
