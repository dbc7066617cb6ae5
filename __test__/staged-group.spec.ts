// `StagedGroup`: containment while staging, refused absolute paths, handles after the commit (behaviours of Python versioned-hdf5, §4.1 of the format
// specification, moved here from behaviours.spec.ts; see its header for the translation rules).
import test from 'ava'

import { VersionedFile, type Dataset, type StagedGroup } from '../index.js'
import { ds, throwsCode, tmpFile } from './helpers.js'
import { C, ones, sub, same } from './support/behaviours.js'

test('§4.1-29 containment while staging: relative paths, nested groups, with and without trailing "/"', async (t) => {
  const vf = VersionedFile.open(tmpFile('b29'), { mode: 'w' })
  const data = ones(2 * C)
  await vf.stageVersion('version1', (g) => {
    g.createDataset('group1/group2/test_data', { data })
    t.true(g.has('group1'))
    t.true(g.has('group1/'))
    t.true(sub(g, 'group1').has('group2'))
    t.true(sub(g, 'group1/group2').has('test_data'))
    t.false(g.has('test_data'))
    t.false(sub(g, 'group1').has('test_data'))
    t.true(g.has('group1/group2'))
    t.false(g.has('group1/group3'))
    t.true(g.has('group1/group2/test_data'))
    t.true(g.has('group1/group2/test_data/'))
    t.false(g.has('group1/group3/test_data'))
    t.false(g.has('group1/group3/test_data2'))
  })
  await vf.stageVersion('version2', (g) => {
    g.createDataset('group1/group3/test_data2', { data })
    t.true(g.has('group1'))
    t.true(sub(g, 'group1').has('group2'))
    t.true(sub(g, 'group1').has('group3'))
    t.true(sub(g, 'group1/group2').has('test_data'))
    t.false(g.has('test_data'))
    t.false(sub(g, 'group1').has('test_data'))
    t.true(sub(g, 'group1/group3').has('test_data2'))
    t.false(sub(g, 'group1/group2').has('test_data2'))
    t.true(g.has('group1/group2'))
    t.true(g.has('group1/group3'))
    t.true(g.has('group1/group2/test_data'))
    t.false(g.has('group1/group3/test_data'))
    t.true(g.has('group1/group3/test_data2'))
  })
  vf.close()
})

test('§4.1-28 createDataset("/group1/test_data") and createGroup("/group1") are refused with INVALID_ARGUMENT', async (t) => {
  const vf = VersionedFile.open(tmpFile('b28b'), { mode: 'w' })
  await vf.stageVersion('version-bad', async (g) => {
    await throwsCode(t, () => g.createDataset('/group1/test_data', { data: ones(10) }), 'INVALID_ARGUMENT')
    await throwsCode(t, () => g.createGroup('/group1'), 'INVALID_ARGUMENT')
    t.deepEqual(g.keys(), [])
  }, { prevVersion: '' })
  t.deepEqual(vf.version('version-bad').keys(), [])
  vf.close()
})

test('§4.1-38 handles of a committed staged version refuse createDataset, createGroup, delete and writes with READ_ONLY', async (t) => {
  const vf = VersionedFile.open(tmpFile('b38'), { mode: 'w' })
  const data = ones(C)
  let g1!: StagedGroup
  let d1!: Dataset
  await vf.stageVersion('version1', (g) => {
    g1 = g
    d1 = g.createDataset('test_data', { data })
  })
  await throwsCode(t, () => g1.createDataset('data', { data }), 'READ_ONLY')
  await throwsCode(t, () => g1.createGroup('subgroup'), 'READ_ONLY')
  await throwsCode(t, () => g1.delete('test_data'), 'READ_ONLY')
  await throwsCode(t, () => d1.write([0], 1), 'READ_ONLY')
  // Using the old handle inside the next staging fails that staging, which leaves nothing.
  await throwsCode(t, () => vf.stageVersion('version2', () => ds(g1, 'test_data').write([0], 1)), 'READ_ONLY')
  await throwsCode(t, () => vf.stageVersion('version2', () => d1.write([0], 1)), 'READ_ONLY')
  t.deepEqual(vf.versions, ['version1'])
  let g2!: StagedGroup
  await vf.stageVersion('version2', (g) => {
    g2 = g
  })
  await throwsCode(t, () => vf.stageVersion('version3', () => ds(g2, 'test_data').write([0], 1)), 'READ_ONLY')
  t.deepEqual(vf.versions, ['version1', 'version2'])
  same(t, await ds(vf.version('version2'), 'test_data').read(), data)
  vf.close()
})
