// `Attributes`: set while staging, kept per version (behaviours of Python versioned-hdf5, §4.1 of the format
// specification, moved here from behaviours.spec.ts; see its header for the translation rules).
import test from 'ava'

import { VersionedFile } from '../index.js'
import { ds, tmpFile } from './helpers.js'
import { C, arange64, h5 } from './support/behaviours.js'

test('§4.1-25 a dataset attribute set while staging is on the VDS; changing it in v2 leaves v1 alone', async (t) => {
  const p = tmpFile('b25')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('version1', (g) => {
    const d = g.createDataset('test_data', { data: arange64(0, 2 * C) })
    t.false(d.attrs.has('test_attr'))
    d.attrs.set('test_attr', 0)
  })
  t.is(ds(vf.version('version1'), 'test_data').attrs.get('test_attr'), 0)
  await vf.stageVersion('version2', (g) => {
    const d = ds(g, 'test_data')
    t.is(d.attrs.get('test_attr'), 0)
    d.attrs.set('test_attr', 1)
    t.is(d.attrs.get('test_attr'), 1)
  })
  t.is(ds(vf.version('version1'), 'test_data').attrs.get('test_attr'), 0)
  t.is(ds(vf.version('version2'), 'test_data').attrs.get('test_attr'), 1)
  vf.close()
  const got = h5(p, `v = f['_version_data/versions']
out = {n: {'test_attr': float(v[n + '/test_data'].attrs['test_attr']), 'raw_data': v[n + '/test_data'].attrs['raw_data'], 'chunks': v[n + '/test_data'].attrs['chunks'].tolist()} for n in ['version1', 'version2']}`)
  t.deepEqual(got, {
    version1: { test_attr: 0, raw_data: '/_version_data/test_data/raw_data', chunks: [C] },
    version2: { test_attr: 1, raw_data: '/_version_data/test_data/raw_data', chunks: [C] },
  })
})
