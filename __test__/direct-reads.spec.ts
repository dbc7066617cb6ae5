// Reads that touch many chunks take the direct path (positioned reads of the stored
// slots, decoded in parallel, docs/design/012); reads of a few chunks go chunk by
// chunk through libhdf5. Every case here reads the same data both ways and against
// an in-memory model: uncompressed, gzip, shuffle+gzip, lzf, fletcher32 (which the
// direct path leaves to libhdf5), fixed-length strings, unmapped chunks (fill values),
// 2-D edge chunks, stepped and listed selections, and files Python versioned-hdf5
// 2.4 and 2.6 wrote; and large results that reuse the memory of collected ones. About
// 3 s.
import v8 from 'node:v8'
import vm from 'node:vm'

import test from 'ava'

import { VersionedFile, type Dataset } from '../index.js'
import { VENV26_PYTHON, VENV_PYTHON, tmpFile, vpyWith } from './helpers.js'

const lib = require('../index.js') as { _recycledReusesForTest: () => number }

type Sel = Array<number | [number, number] | [number, number, number] | { indices: number[] }>

/** The selection read chunk by chunk (each read touches one chunk: the libhdf5 path). */
function perChunk(d: Dataset): number[] {
  const [n] = d.shape
  const c = d.chunks[0]
  const out: number[] = []
  for (let i = 0; i < n; i += c) out.push(...Array.from(d.readSync([[i, Math.min(n, i + c)]]) as ArrayLike<number>))
  return out
}

const arr = (x: unknown) => Array.from(x as ArrayLike<number | bigint | string>)

const FILTERS = [
  {},
  { compression: 'gzip' },
  { compression: 'gzip', shuffle: true, compressionLevel: 1 },
  { compression: 'lzf' },
  { compression: 'lzf', shuffle: true },
  { fletcher32: true },
]

for (const filters of FILTERS) {
  test(`1-D reads agree with the model and the chunk-by-chunk path: ${JSON.stringify(filters)}`, async (t) => {
    const path = tmpFile('direct')
    const vf = VersionedFile.open(path, { mode: 'w' })
    // 49.37 chunks of 100, with runs of equal values (they compress) and noise.
    const model = Array.from({ length: 4937 }, (_, i) => (i % 300 < 150 ? Math.floor(i / 10) : Math.sin(i) * 1e6))
    await vf.stageVersion('v0', (g) => {
      g.createDataset('x', { data: Float64Array.from(model), chunks: [100], fillValue: -7, ...filters })
    })
    // v1 rewrites two chunks (new slots after the old ones) and grows into chunks
    // never written (read as the fill value).
    await vf.stageVersion('v1', (g) => {
      const x = g.dataset('x')
      x.write([[250, 390]], Float64Array.from({ length: 140 }, (_, i) => -i))
      x.resize([7000])
      x.write([[6500, 6510]], Float64Array.from({ length: 10 }, (_, i) => 1000 + i))
    })
    const m1 = [...model, ...Array(7000 - 4937).fill(-7)]
    for (let i = 250; i < 390; i++) m1[i] = -(i - 250)
    for (let i = 6500; i < 6510; i++) m1[i] = 1000 + (i - 6500)
    vf.close()
    const ro = VersionedFile.open(path, { mode: 'r' })
    for (const [name, m] of [['v0', model], ['v1', m1]] as const) {
      const d = ro.version(name).dataset('x')
      t.deepEqual(arr(await d.read()), m, `${name} full`)
      t.deepEqual(perChunk(d), m, `${name} chunk by chunk`)
      const sels: Array<[Sel, number[]]> = [
        [[[37, 4911]], m.slice(37, 4911)],
        [[[3, 4900, 7]], m.slice(3, 4900).filter((_, i) => i % 7 === 0)],
        [[{ indices: [4936, 5, 5, 1200, 77, 3000, 2999, 400, 401, 402, 4000] }], [4936, 5, 5, 1200, 77, 3000, 2999, 400, 401, 402, 4000].map((i) => m[i])],
      ]
      for (const [sel, want] of sels) t.deepEqual(arr(d.readSync(sel as never)), want, `${name} ${JSON.stringify(sel).slice(0, 40)}`)
      const into = new Float64Array(m.length)
      d.readIntoSync(into)
      t.deepEqual(Array.from(into), m, `${name} readIntoSync`)
    }
    ro.close()
  })
}

test('2-D edge chunks, row and column blocks, steps, unmapped chunks, int32 and fixed-length strings', async (t) => {
  const path = tmpFile('direct2d')
  const [R, C] = [300, 270]
  const model = Int32Array.from({ length: R * C }, (_, i) => (i * 2654435761) % 100003)
  const vf = VersionedFile.open(path, { mode: 'w' })
  await vf.stageVersion('v0', (g) => {
    g.createDataset('a', { data: model, shape: [R, C], chunks: [64, 50], compression: 'gzip', fillValue: 5 })
    g.createDataset('b', { data: model, shape: [R, C], chunks: [64, 50] })
    g.createDataset('s', { data: Array.from({ length: 40 * 90 }, (_, i) => `s${i % 977}`), dtype: 'S6', shape: [40, 90], chunks: [8, 10] })
  })
  await vf.stageVersion('v1', (g) => {
    g.dataset('b').resize([R + 100, C])
  })
  vf.close()
  const ro = VersionedFile.open(path, { mode: 'r' })
  const at = (r: number, c: number, cols = C) => model[r * cols + c]
  for (const name of ['a', 'b']) {
    const d = ro.version('v0').dataset(name)
    t.deepEqual(arr(await d.read()), Array.from(model), `${name} full`)
    const rows = arr(d.readSync([[60, 200], [0, C]]))
    t.deepEqual(rows, Array.from(model.subarray(60 * C, 200 * C)), `${name} rows`)
    const cols = arr(d.readSync([[0, R], [45, 230]]))
    const wantCols: number[] = []
    for (let r = 0; r < R; r++) for (let c = 45; c < 230; c++) wantCols.push(at(r, c))
    t.deepEqual(cols, wantCols, `${name} columns`)
    const stepped = arr(d.readSync([[1, R, 3], [2, C, 5]]))
    const wantStep: number[] = []
    for (let r = 1; r < R; r += 3) for (let c = 2; c < C; c += 5) wantStep.push(at(r, c))
    t.deepEqual(stepped, wantStep, `${name} stepped`)
  }
  const grown = arr(await ro.version('v1').dataset('b').read())
  t.deepEqual(grown, [...Array.from(model), ...Array(100 * C).fill(0)], 'grown into unmapped chunks')
  const s = ro.version('v0').dataset('s')
  t.deepEqual(await s.read(), Array.from({ length: 40 * 90 }, (_, i) => `s${i % 977}`))
  ro.close()
})

const WRITE_PY = `
import sys, json, h5py, numpy as np
from versioned_hdf5 import VersionedHDF5File
path = sys.argv[1]
with h5py.File(path, 'w') as f:
    vf = VersionedHDF5File(f)
    x = np.arange(10_000, dtype='f8') * 0.5
    y = np.arange(300 * 170, dtype='i8').reshape(300, 170)
    with vf.stage_version('v0') as g:
        g.create_dataset('plain', data=x, chunks=(256,), maxshape=(None,))
        g.create_dataset('gz', data=x, chunks=(256,), maxshape=(None,), compression='gzip', shuffle=True)
        g.create_dataset('lzf', data=x, chunks=(256,), maxshape=(None,), compression='lzf')
        g.create_dataset('two', data=y, chunks=(64, 32), maxshape=(None, None), fillvalue=3)
    with vf.stage_version('v1') as g:
        for k in ('plain', 'gz', 'lzf'):
            g[k][1000:1300] = -1.0
            g[k].resize((12_000,))
        g['two'][10:70, 40:100] = -2
with h5py.File(path, 'r') as f:
    vf = VersionedHDF5File(f)
    out = {v: {k: vf[v][k][()].ravel().tolist() for k in ('plain', 'gz', 'lzf', 'two')} for v in ('v0', 'v1')}
print(json.dumps(out))
`

for (const [label, python] of [['2.4', VENV_PYTHON], ['2.6', VENV26_PYTHON]] as const) {
  test(`files Python versioned-hdf5 ${label} wrote read exactly, both paths`, async (t) => {
    const path = tmpFile(`direct-py${label}`)
    const want = vpyWith<Record<string, Record<string, number[]>>>(python, WRITE_PY, path)
    const ro = VersionedFile.open(path, { mode: 'r' })
    for (const v of ['v0', 'v1']) {
      for (const k of ['plain', 'gz', 'lzf', 'two']) {
        const d = ro.version(v).dataset(k)
        const got = arr(await d.read()).map(Number)
        t.deepEqual(got, want[v][k], `${v}/${k}`)
        if (d.shape.length === 1) t.deepEqual(perChunk(d), want[v][k], `${v}/${k} chunk by chunk`)
      }
    }
    ro.close()
  })
}

test('large results reuse the memory of collected ones and hold only their own values', async (t) => {
  v8.setFlagsFromString('--expose-gc')
  const gc = vm.runInNewContext('gc') as () => void
  const path = tmpFile('direct-recycle')
  const [R, C] = [2048, 512]
  const model = Float64Array.from({ length: R * C }, (_, i) => i + 0.25)
  const vf = VersionedFile.open(path, { mode: 'w' })
  await vf.stageVersion('v0', (g) => {
    g.createDataset('x', { data: model, shape: [R, C], chunks: [64, 64] })
    g.createDataset('z', { data: model, shape: [R, C], chunks: [64, 64], compression: 'gzip', compressionLevel: 1 })
  })
  await vf.stageVersion('v1', (g) => {
    g.dataset('x').resize([R + 512, C])
  })
  vf.close()
  const ro = VersionedFile.open(path, { mode: 'r' })
  const before = lib._recycledReusesForTest()
  // Elements of `a` that differ from the model's rows from `r0` on (0 past its end).
  const wrong = (a: Float64Array, r0: number) => a.reduce((n, v, i) => n + (v !== (r0 * C + i < R * C ? model[r0 * C + i] : 0) ? 1 : 0), 0)
  for (let k = 0; k < 6; k++) {
    // 512 rows of 512 float64: 2 MiB, handed to JS without a copy.
    const r0 = ((k * 3) % 4) * 512
    for (const name of ['x', 'z']) {
      let a: Float64Array | null = ro.version('v0').dataset(name).readSync([[r0, r0 + 512], [0, C]]) as Float64Array
      t.is(a.length, 512 * C)
      t.is(wrong(a, r0), 0, `${name} rows ${r0}`)
      a = null
      gc()
    }
    // Half in unmapped chunks (the fill value, zero), half stored: nothing of a
    // recycled buffer shows.
    let b: Float64Array | null = (await ro.version('v1').dataset('x').read([[R - 256, R + 256], [0, C]])) as Float64Array
    t.is(b.length, 512 * C)
    t.is(wrong(b, R - 256), 0, `across the end, round ${k}`)
    b = null
    gc()
  }
  t.true(lib._recycledReusesForTest() - before >= 6, 'collected results were reused')
  ro.close()
})
