// `Version`: lookups by position and name, and what a staging cannot see (behaviours of Python versioned-hdf5, §4.1 of the format
// specification, moved here from behaviours.spec.ts; see its header for the translation rules).
import test from 'ava'

import { VersionedFile, type Version } from '../index.js'
import { ds, throwsCode, tmpFile } from './helpers.js'
import { nth, step, at } from './support/behaviours.js'

test('§4.1-6 version(n): 0 is the current version, -n walks prev_version; positive → INVALID_ARGUMENT, past the root → VERSION_NOT_FOUND', async (t) => {
  const vf = VersionedFile.open(tmpFile('b6'), { mode: 'w' })
  await vf.stageVersion('version1', (g) => void g.createDataset('test_data', { data: step() }), { prevVersion: '' })
  await vf.stageVersion('version2', (g) => ds(g, 'test_data').write([0], 2), { prevVersion: 'version1' })
  await vf.stageVersion('version3', (g) => ds(g, 'test_data').write([0], 3), { prevVersion: 'version2' })
  await vf.stageVersion('version2_1', (g) => ds(g, 'test_data').write([0], 2), { prevVersion: 'version1', makeCurrent: false })
  const first = async (v: Version) => at(ds(v, 'test_data'), 0)
  t.is(nth(vf, 0).name, 'version3')
  t.is(await first(nth(vf, 0)), 3)
  await throwsCode(t, () => vf.version('bad'), 'VERSION_NOT_FOUND')
  await throwsCode(t, () => nth(vf, 1), 'INVALID_ARGUMENT')
  t.is(nth(vf, -1).name, 'version2')
  t.is(await first(nth(vf, -1)), 2)
  t.is(nth(vf, -2).name, 'version1')
  t.is(await first(nth(vf, -2)), 1)
  await throwsCode(t, () => nth(vf, -3), 'VERSION_NOT_FOUND')

  vf.setCurrentVersion('version2')
  t.is(nth(vf, 0).name, 'version2')
  t.is(nth(vf, -1).name, 'version1')
  await throwsCode(t, () => nth(vf, -2), 'VERSION_NOT_FOUND')

  vf.setCurrentVersion('version2_1')
  t.is(nth(vf, 0).name, 'version2_1')
  t.is(await first(nth(vf, 0)), 2)
  t.is(nth(vf, -1).name, 'version1')
  t.is(await first(nth(vf, -1)), 1)
  await throwsCode(t, () => nth(vf, -2), 'VERSION_NOT_FOUND')

  vf.setCurrentVersion('version1')
  t.is(nth(vf, 0).name, 'version1')
  await throwsCode(t, () => nth(vf, -1), 'VERSION_NOT_FOUND')
  vf.close()
})

test('§4.1-7 looking up an unknown name → VERSION_NOT_FOUND; a name starting with "/" → INVALID_ARGUMENT', async (t) => {
  const vf = VersionedFile.open(tmpFile('b7'), { mode: 'w' })
  await vf.stageVersion('version1', (g) => void g.createDataset('test_data', { data: step() }))
  await throwsCode(t, () => vf.version('bad'), 'VERSION_NOT_FOUND')
  await throwsCode(t, () => vf.version('/_version_data'), 'INVALID_ARGUMENT')
  vf.close()
})

test('§4.1-44 a version is not reachable from inside its own staging (by name or by time); earlier versions are', async (t) => {
  const vf = VersionedFile.open(tmpFile('b44'), { mode: 'w' })
  const timestamp1 = new Date(Date.now() - 3_600_000)
  await vf.stageVersion('version1', (g) => void g.createDataset('test', { data: [1, 2, 3] }), { timestamp: timestamp1 })
  const timestamp2 = new Date()
  await vf.stageVersion('version2', async (g) => {
    g.createDataset('other', { data: [4] })
    t.is(vf.version('version1').name, 'version1')
    await throwsCode(t, () => vf.version('version2'), 'VERSION_NOT_FOUND')
    t.is(vf.versionAt(timestamp1).name, 'version1')
    t.is(vf.versionAt(new Date(timestamp2.getTime() + 60_000)).name, 'version1', 'time lookups only see committed versions')
    t.deepEqual(vf.versions, ['version1'])
  }, { timestamp: timestamp2 })
  t.deepEqual(vf.version('version2').keys(), ['other', 'test'])
  t.is(vf.versionAt(new Date(timestamp2.getTime() + 60_000)).name, 'version2')
  vf.close()
})
