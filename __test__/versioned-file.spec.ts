import test from 'ava'
import { copyFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { ds, py, rawRows, throwsCode, tmpFile } from './helpers.js'

test('a new file has the _version_data structure of the format', (t) => {
  const p = tmpFile()
  const vf = VersionedFile.open(p, { mode: 'w' })
  t.is(vf.currentVersion, '__first_version__')
  t.deepEqual(vf.versions, [])
  vf.close()
  const got = py<{ cur: string; dv: number; first: string[]; ts: string }>(
    `import h5py, json, sys
f = h5py.File(sys.argv[1], 'r')
v = f['_version_data/versions']
print(json.dumps({'cur': v.attrs['current_version'], 'dv': int(v.attrs['data_version']), 'first': list(v['__first_version__'].attrs), 'ts': v['__first_version__'].attrs['timestamp']}))`,
    p,
  )
  t.is(got.cur, '__first_version__')
  t.is(got.dv, 4)
  t.deepEqual(got.first, ['timestamp'])
  t.regex(got.ts, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+0000$/)
})

test('modes: r and r+ need the file, x refuses an existing one, a creates it', async (t) => {
  const p = tmpFile()
  await throwsCode(t, () => VersionedFile.open(p, { mode: 'r' }), 'FILE_NOT_FOUND')
  await throwsCode(t, () => VersionedFile.open(p, { mode: 'r+' }), 'FILE_NOT_FOUND')
  VersionedFile.open(p).close() // default mode 'a' creates
  await throwsCode(t, () => VersionedFile.open(p, { mode: 'x' }), 'FILE_EXISTS')
  await throwsCode(t, () => VersionedFile.open(p, { mode: 'rw' }), 'INVALID_ARGUMENT')
  const r = VersionedFile.open(p, { mode: 'r' })
  t.false(r.writable)
  await throwsCode(t, () => r.stageVersion('v1', () => {}), 'READ_ONLY')
  r.close()
  const x = VersionedFile.open(tmpFile(), { mode: 'x' })
  t.true(x.writable)
  x.close()
})

test('dataVersion: 4 for a new file, 1 for a generation-1 file Python wrote, FILE_CLOSED after close', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  t.is(vf.dataVersion, 4)
  vf.close()
  await throwsCode(t, () => vf.dataVersion, 'FILE_CLOSED')
  const old = VersionedFile.open(join(__dirname, 'fixtures', 'versioned-hdf5-2.4', 'nested_data_old_data_version.h5'), { mode: 'r' })
  t.is(old.dataVersion, 1)
  old.close()
})

test('use after close throws FILE_CLOSED; close is idempotent', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: [1, 2, 3] }))
  const v = vf.version('v1')
  vf.close()
  vf.close()
  t.true(vf.closed)
  await throwsCode(t, () => vf.versions, 'FILE_CLOSED')
  await throwsCode(t, () => vf.currentVersion, 'FILE_CLOSED')
  await throwsCode(t, () => vf.version('v1'), 'FILE_CLOSED')
  await throwsCode(t, () => v.get('x'), 'FILE_CLOSED')
  await throwsCode(t, () => vf.stageVersion('v2', () => {}), 'FILE_CLOSED')
})

test('version names: duplicates, empty and slashes are refused; unknown parents too', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: [1] }))
  await throwsCode(t, () => vf.stageVersion('v1', () => {}), 'VERSION_EXISTS')
  await throwsCode(t, () => vf.stageVersion('', () => {}), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.stageVersion('a/b', () => {}), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.stageVersion('v2', () => {}, { prevVersion: 'nope' }), 'VERSION_NOT_FOUND')
  await throwsCode(t, () => vf.version('nope'), 'VERSION_NOT_FOUND')
  t.deepEqual(vf.versions, ['v1'])
  vf.close()
})

test('a failing builder leaves the file exactly as before and frees the name', async (t) => {
  const p = tmpFile()
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: new Float64Array(100).map((_, i) => i), chunks: [10] }))
  const rows = rawRows(p, 'x')
  await t.throwsAsync(
    vf.stageVersion('v2', async (g) => {
      ds(g, 'x').write([[0, 50]], 7)
      g.createDataset('y', { data: [1, 2, 3] })
      await new Promise((r) => setTimeout(r, 5))
      throw new Error('upstream feed failed')
    }),
    { message: 'upstream feed failed' },
  )
  t.deepEqual(vf.versions, ['v1'])
  t.is(vf.currentVersion, 'v1')
  vf.close()
  t.is(rawRows(p, 'x'), rows)
  t.deepEqual(py<string[]>(`import h5py, json, sys; print(json.dumps(sorted(h5py.File(sys.argv[1], 'r')['_version_data'])))`, p), ['versions', 'x'])
  const again = VersionedFile.open(p)
  await again.stageVersion('v2', (g) => ds(g, 'x').write([0], 1))
  t.deepEqual(again.versions, ['v1', 'v2'])
  t.deepEqual(Array.from(await ds(again.version('v1'), 'x').read<Float64Array>([[0, 3]])), [0, 1, 2])
  t.deepEqual(Array.from(await ds(again.version('v2'), 'x').read<Float64Array>([[0, 3]])), [1, 1, 2])
  again.close()
})

test('lookup by time: at-or-before and exact, microseconds apart', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  const base = 1_700_000_000_000_000n
  await vf.stageVersion('a', (g) => void g.createDataset('x', { data: [1] }), { timestamp: base })
  await vf.stageVersion('b', (g) => ds(g, 'x').write([0], 2), { timestamp: base + 1n })
  await vf.stageVersion('c', (g) => ds(g, 'x').write([0], 3), { timestamp: '2023-11-14T22:13:20.000005Z' })
  t.is(vf.version('b').timestampMicros, base + 1n)
  t.is(vf.versionAt(base).name, 'a')
  t.is(vf.versionAt(base + 1n).name, 'b')
  t.is(vf.versionAt(base + 1n, { exact: true }).name, 'b')
  t.is(vf.versionAt(base + 3n).name, 'b')
  t.is(vf.versionAt('2023-11-14T22:13:20.000005Z', { exact: true }).name, 'c')
  t.is(vf.versionAt(new Date(Number(base / 1000n) + 1)).name, 'c')
  await throwsCode(t, () => vf.versionAt(base + 3n, { exact: true }), 'NO_VERSION_AT_TIME')
  await throwsCode(t, () => vf.versionAt(base - 1n), 'NO_VERSION_AT_TIME')
  await throwsCode(t, () => vf.versionAt('not a time'), 'INVALID_ARGUMENT')
  t.deepEqual(vf.versions, ['a', 'b', 'c'])
  t.deepEqual(vf.history().map((h) => [h.name, h.prevVersion]), [['a', '__first_version__'], ['b', 'a'], ['c', 'b']])
  t.is(vf.version('c').timestamp.toISOString(), '2023-11-14T22:13:20.000Z')
  const stored = py<string>(`import h5py, json, sys; print(json.dumps(h5py.File(sys.argv[1], 'r')['_version_data/versions/b'].attrs['timestamp']))`, vf.path)
  t.is(stored, '2023-11-14 22:13:20.000001+0000')
  vf.close()
})

test('branches: prevVersion and makeCurrent: false', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: [1, 2] }))
  await vf.stageVersion('v2', (g) => ds(g, 'x').write([0], 10))
  await vf.stageVersion('b1', (g) => ds(g, 'x').write([1], 20), { prevVersion: 'v1', makeCurrent: false })
  t.is(vf.currentVersion, 'v2')
  t.is(vf.version('b1').prevVersion, 'v1')
  t.deepEqual(Array.from(await ds(vf.version('b1'), 'x').read<Float64Array>()), [1, 20])
  vf.setCurrentVersion('b1')
  t.is(vf.currentVersion, 'b1')
  await vf.stageVersion('root2', (g) => t.deepEqual(g.keys(), []), { prevVersion: '' })
  t.is(vf.version('root2').prevVersion, '__first_version__')
  vf.close()
  copyFileSync(vf.path, vf.path + '.copy')
  t.true(statSync(vf.path + '.copy').size > 0)
  t.is(VersionedFile.open(vf.path + '.copy', { mode: 'r' }).currentVersion, 'root2')
})

test('a file open read-only in this process opens for writing beside it; the reader keeps its view until refresh()', async (t) => {
  const p = tmpFile('twice')
  const w = VersionedFile.open(p, { mode: 'w' })
  await w.stageVersion('v1', (g) => {
    g.createDataset('x', { data: [1, 2, 3] })
  })
  w.close()
  const r = VersionedFile.open(p, { mode: 'r' })
  const again = VersionedFile.open(p, { mode: 'a' })
  t.deepEqual(again.versions, ['v1'])
  await again.stageVersion('v2', (g) => g.dataset('x').write([0], 9))
  t.deepEqual(r.versions, ['v1'])
  t.deepEqual(r.refresh(), ['v2'])
  again.close()
  r.close()
})
