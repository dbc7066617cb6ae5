// New chunks of filtered datasets are compressed by this library and written as stored
// (direct chunk writes), and the hash table's last chunk is written whole with LZF
// marked skipped. These check that every such chunk reads back right in the same
// session, after reopening, through h5py's own filters, and in Python
// versioned-hdf5, which then keeps writing into the same datasets.
import test from 'ava'

import { VersionedFile } from '../index.js'
import { ds, py, tmpFile, vpy } from './helpers.js'

const PIPELINES = [
  { compression: 'gzip' },
  { compression: 'gzip', compressionLevel: 9, shuffle: true },
  { compression: 'lzf' },
  { compression: 'lzf', shuffle: true },
  { shuffle: true },
  {},
] as const

function noise(n: number, seed: number): Float64Array {
  let x = seed >>> 0 || 1
  return Float64Array.from({ length: n }, () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 2 ** 32
  })
}

/** Float64s whose low seven bytes are random: chunks LZF cannot shrink. */
function incompressible(n: number, seed: number): Float64Array {
  const bytes = new Uint8Array(n * 8)
  const r = noise(bytes.length, seed)
  for (let i = 0; i < bytes.length; i++) bytes[i] = i % 8 === 7 ? 0x3f : Math.floor(r[i] * 256)
  return new Float64Array(bytes.buffer)
}

// Incompressible chunks (LZF gives up on them), compressible ones and edge chunks.
const DATA = Float64Array.from({ length: 10_000 }, (_, i) => (i < 5000 ? noise(1, i + 1)[0] : Math.floor(i / 100)))

for (const [i, p] of PIPELINES.entries()) {
  test(`pipeline ${JSON.stringify(p)}: chunks written directly read back in the session, after reopening, in h5py and in Python versioned-hdf5`, async (t) => {
    const path = tmpFile(`direct${i}`)
    const vf = VersionedFile.open(path, { mode: 'w' })
    await vf.stageVersion('v1', (g) => {
      g.createDataset('x', { data: DATA, chunks: [1000], hash: 'sha256', ...p })
      g.createDataset('m', { data: noise(3000, 7), shape: [60, 50], chunks: [16, 16], ...p })
    })
    // A second version: new chunks on top of deduplicated ones, and a grown table.
    const v2 = DATA.slice()
    v2.set(noise(700, 99), 9300)
    await vf.stageVersion('v2', (g) => {
      ds(g, 'x').resize([10_000])
      ds(g, 'x').write([[9300, 10_000]], v2.subarray(9300))
      ds(g, 'm').write([[0, 16], [0, 16]], noise(256, 5))
    })
    t.deepEqual(await ds(vf.version('v1'), 'x').read(), DATA, 'same session, v1')
    t.deepEqual(await ds(vf.version('v2'), 'x').read(), v2, 'same session, v2')
    const report = vf.verifySync()
    t.deepEqual(report.problems, [])
    t.true(report.chunks > 0)
    vf.close()

    const r = VersionedFile.open(path, { mode: 'r' })
    t.deepEqual(await ds(r.version('v2'), 'x').read(), v2, 'reopened')
    t.true(r.verifySync().ok)
    r.close()

    const viaH5py = py<number[]>(
      `import h5py, json, sys
f = h5py.File(sys.argv[1], 'r')
v = f['_version_data/versions']
print(json.dumps([float(v['v1/x'][:].sum()), float(v['v2/x'][:].sum()), float(v['v2/m'][:].sum()), int(f['_version_data/x/hash_table'].attrs['largest_index']), int(len(f['_version_data/x/hash_table'][:]))]))`,
      path,
    )
    const sum = (a: Float64Array) => a.reduce((s, x) => s + x, 0)
    t.true(Math.abs(viaH5py[0] - sum(DATA)) < 1e-6)
    t.true(Math.abs(viaH5py[1] - sum(v2)) < 1e-6)
    t.is(viaH5py[3], viaH5py[4], 'the hash table holds largest_index rows')

    // Python versioned-hdf5 reads both versions, writes a third into the same
    // storage (dedup against our rows), and we read it.
    const out = vpy<{ same: boolean; slots_added: number }>(
      `import h5py, json, sys, numpy as np
from versioned_hdf5 import VersionedHDF5File
f = h5py.File(sys.argv[1], 'r+')
vf = VersionedHDF5File(f)
a = vf['v2']['x'][:]
before = int(f['_version_data/x/hash_table'].attrs['largest_index'])
with vf.stage_version('v3') as g:
    g['x'][0:1000] = a[0:1000]
    g['x'][5000] = -1.0
after = int(f['_version_data/x/hash_table'].attrs['largest_index'])
print(json.dumps({'same': bool(np.array_equal(vf['v1']['x'][:], vf['v1']['x'][:])), 'slots_added': after - before}))`,
      path,
    )
    t.true(out.same)
    t.is(out.slots_added, 1, 'Python deduplicated every unchanged chunk against our table')
    const back = VersionedFile.open(path, { mode: 'r' })
    const v3 = v2.slice()
    v3[5000] = -1
    t.deepEqual(await ds(back.version('v3'), 'x').read(), v3)
    t.true(back.verifySync().ok)
    back.close()
  })
}

test('a last chunk written with its filter skipped (LZF cannot shrink noise) reads back in the session, through libhdf5 and through reads', async (t) => {
  const path = tmpFile('direct-skipped')
  const vf = VersionedFile.open(path, { mode: 'w' })
  const a = incompressible(3000, 3)
  await vf.stageVersion('v1', (g) => {
    g.createDataset('x', { data: a, chunks: [1000], compression: 'lzf' })
  })
  // verifySync reads every stored chunk back through libhdf5, the last one included.
  t.deepEqual(vf.verifySync().problems, [])
  t.deepEqual(await ds(vf.version('v1'), 'x').read(), a)
  const b = new Float64Array(4000)
  b.set(a)
  b.set(incompressible(1000, 4), 3000)
  await vf.stageVersion('v2', (g) => {
    ds(g, 'x').resize([4000])
    ds(g, 'x').write([[3000, 4000]], b.subarray(3000))
  })
  t.deepEqual(vf.verifySync().problems, [])
  t.deepEqual(await ds(vf.version('v2'), 'x').read(), b)
  // The next commit loads the last chunk written to change one element in it.
  b[3999] = -1
  await vf.stageVersion('v3', (g) => {
    ds(g, 'x').write([3999], -1)
  })
  t.deepEqual(await ds(vf.version('v3'), 'x').read(), b)
  t.deepEqual(vf.verifySync().problems, [])
  vf.close()
  const masks = py<number[]>(
    `import h5py, json, sys
d = h5py.File(sys.argv[1], 'r')['_version_data/x/raw_data']
print(json.dumps([d.id.get_chunk_info(i).filter_mask for i in range(d.id.get_num_chunks())]))`,
    path,
  )
  t.deepEqual(masks, [1, 1, 1, 1, 1], 'every chunk is stored with LZF skipped')
})

test('hash table: commits that fill several table chunks (4,096 rows each), one row at a time and many at once, verify in the session and after reopening, and Python reads every row', async (t) => {
  const path = tmpFile('table-chunks')
  const vf = VersionedFile.open(path, { mode: 'w' })
  const written: number[] = []
  // Chunks of one element: every new value is a new hash-table row.
  const sizes = [1, 3000, 1, 1, 2000, 1, 4000, 1, 1, 5000, 1]
  let next = 0
  for (const [v, n] of sizes.entries()) {
    const vals = Float64Array.from({ length: n }, (_, i) => next + i + 0.5)
    next += n
    await vf.stageVersion(`v${v}`, (g) => {
      if (v === 0) {
        g.createDataset('x', { data: vals, chunks: [1] })
        return
      }
      const x = g.dataset('x')
      const at = x.shape[0]
      x.resize([at + n])
      x.write([[at, at + n]], vals)
    })
    written.push(next)
    // libhdf5 reads the table's chunks back here, in the session that wrote them.
    const rep = vf.verifySync()
    t.true(rep.ok, `after v${v}: ${JSON.stringify(rep.problems.slice(0, 2))}`)
  }
  vf.close()
  const again = VersionedFile.open(path, { mode: 'r' })
  t.true(again.verifySync().ok)
  const last = again.version(`v${sizes.length - 1}`).dataset('x').readSync() as Float64Array
  t.is(last.length, next)
  t.is(last[next - 1], next - 1 + 0.5)
  again.close()
  const rows = py<number>(`import h5py, sys; f = h5py.File(sys.argv[1], 'r'); t = f['_version_data/x/hash_table'][:]; print(len({bytes(r[0]) for r in t}))`, path)
  t.is(rows, next)
})
