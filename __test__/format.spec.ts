// Files written here are real versioned-hdf5 files: checked with h5ls and h5py.
import test from 'ava'

import { VersionedFile } from '../index.js'
import { ds, h5ls, py, tmpFile } from './helpers.js'

const ROWS = 25

async function writeHistory(path: string) {
  const vf = VersionedFile.open(path, { mode: 'w' })
  const a = new Float64Array(ROWS).map((_, i) => i * 1.5)
  await vf.stageVersion('v1', (g) => {
    g.createDataset('a/b/prices', { data: a, chunks: [10] })
    g.createDataset('grid', { data: new Int32Array(7 * 5).map((_, i) => i), shape: [7, 5], chunks: [3, 2] })
    g.createDataset('sparse', { shape: [40], dtype: 'int16', chunks: [8], fillValue: -1 })
    g.attrs.set('note', 'first')
  }, { timestamp: '2024-01-01T00:00:00.000001Z' })
  await vf.stageVersion('v2', (g) => {
    ds(g, 'a/b/prices').write([[20, 25]], 99)
    ds(g, 'grid').write([[2, 5], 1], new Int32Array([-1, -2, -3]))
    ds(g, 'sparse').write([33], 5)
  }, { timestamp: '2024-01-01T00:00:00.000002Z' })
  vf.close()
}

test('h5ls -r shows the layout of spec §1.1', async (t) => {
  const p = tmpFile('layout')
  await writeHistory(p)
  const objs = h5ls(p)
  for (const o of [
    '/_version_data',
    '/_version_data/a/b/prices/raw_data',
    '/_version_data/a/b/prices/hash_table',
    '/_version_data/grid/raw_data',
    '/_version_data/grid/hash_table',
    '/_version_data/sparse/raw_data',
    '/_version_data/versions',
    '/_version_data/versions/__first_version__',
    '/_version_data/versions/v1/a/b/prices',
    '/_version_data/versions/v1/grid',
    '/_version_data/versions/v2/a/b/prices',
    '/_version_data/versions/v2/sparse',
  ]) {
    t.true(objs.includes(o), `${o} missing from h5ls -r`)
  }
})

test('h5py reads every version through its virtual datasets and gets exactly what was written', async (t) => {
  const p = tmpFile('h5py')
  await writeHistory(p)
  const got = py<Record<string, any>>(
    `import h5py, json, sys
f = h5py.File(sys.argv[1], 'r')
out = {}
for v in ['v1', 'v2']:
    g = f['_version_data/versions/' + v]
    out[v] = {k: g[k][()].tolist() for k in ['a/b/prices', 'grid', 'sparse']}
    out[v + '_attrs'] = {k: (v2.decode() if isinstance(v2, bytes) else (bool(v2) if k == 'committed' else str(v2))) for k, v2 in g.attrs.items()}
    out[v + '_virtual'] = g['a/b/prices'].is_virtual
    out[v + '_sources'] = sorted({m.dset_name for m in g['a/b/prices'].virtual_sources()})
    out[v + '_nmap'] = len(g['a/b/prices'].virtual_sources())
    out[v + '_dsattrs'] = {k: (val if isinstance(val, str) else val.tolist()) for k, val in g['grid'].attrs.items()}
    out[v + '_fill'] = int(g['sparse'].fillvalue)
ht = f['_version_data/a/b/prices/hash_table']
out['ht'] = {'itemsize': ht.dtype.itemsize, 'names': list(ht.dtype.names), 'filters': [ht.id.get_create_plist().get_filter(i)[0] for i in range(ht.id.get_create_plist().get_nfilters())], 'chunks': list(ht.chunks), 'largest_index': int(ht.attrs['largest_index']), 'rows': [[int(x) for x in r] for r in ht['shape']], 'mark': ht.attrs.get('hash_function')}
rd = f['_version_data/a/b/prices/raw_data']
out['raw'] = {'shape': list(rd.shape), 'maxshape': [m if m is not None else -1 for m in rd.maxshape], 'chunks': list(rd.chunks), 'attr': rd.attrs['chunks'].tolist(), 'fill': float(rd.fillvalue)}
out['current'] = f['_version_data/versions'].attrs['current_version']
print(json.dumps(out))`,
    p,
  )
  const prices1 = Array.from({ length: ROWS }, (_, i) => i * 1.5)
  const prices2 = prices1.map((x, i) => (i >= 20 ? 99 : x))
  t.deepEqual(got.v1['a/b/prices'], prices1)
  t.deepEqual(got.v2['a/b/prices'], prices2)
  const grid1 = Array.from({ length: 7 }, (_, r) => Array.from({ length: 5 }, (_, c) => r * 5 + c))
  const grid2 = grid1.map((row, r) => row.map((x, c) => (c === 1 && r >= 2 && r < 5 ? -(r - 1) : x)))
  t.deepEqual(got.v1.grid, grid1)
  t.deepEqual(got.v2.grid, grid2)
  t.deepEqual(got.v1.sparse, Array(40).fill(-1))
  t.deepEqual(got.v2.sparse, Array.from({ length: 40 }, (_, i) => (i === 33 ? 5 : -1)))
  t.true(got.v1_virtual)
  t.deepEqual(got.v1_sources, ['/_version_data/a/b/prices/raw_data'])
  t.is(got.v1_nmap, 3) // one mapping per stored chunk
  t.deepEqual(got.v1_attrs, { committed: true, prev_version: '__first_version__', timestamp: '2024-01-01 00:00:00.000001+0000', note: 'first' })
  t.is(got.v2_attrs.prev_version, 'v1')
  t.is(got.v2_attrs.timestamp, '2024-01-01 00:00:00.000002+0000')
  t.deepEqual(got.v1_dsattrs, { raw_data: '/_version_data/grid/raw_data', chunks: [3, 2] })
  t.is(got.v1_fill, -1)
  t.deepEqual(got.ht.names, ['hash', 'shape'])
  t.is(got.ht.itemsize, 48)
  t.deepEqual(got.ht.filters, [32000]) // LZF, as h5py writes it
  t.deepEqual(got.ht.chunks, [4096])
  t.is(got.ht.largest_index, 4) // 3 chunks in v1, one rewritten in v2
  t.deepEqual(got.ht.rows, [[0, 10], [10, 20], [20, 25], [30, 35]])
  t.is(got.ht.mark, 'blake3')
  t.deepEqual(got.raw, { shape: [40], maxshape: [-1], chunks: [10], attr: [10], fill: 0 })
  t.is(got.current, 'v2')
})

test('sha256 datasets hash exactly as the format says (spec §2.4 vector)', async (t) => {
  const p = tmpFile('sha')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: new BigInt64Array([0n, 1n, 2n, 3n]), hash: 'sha256' }))
  vf.close()
  const row = py<{ hash: string; mark: boolean }>(
    `import h5py, json, sys
ht = h5py.File(sys.argv[1], 'r')['_version_data/x/hash_table']
print(json.dumps({'hash': bytes(ht[0]['hash']).hex(), 'mark': 'hash_function' in ht.attrs}))`,
    p,
  )
  t.is(row.hash, 'e36896a9e5798eed502c64146f3679675cf847eee9bfbdba8e44ede6c683754f')
  t.false(row.mark)
})
