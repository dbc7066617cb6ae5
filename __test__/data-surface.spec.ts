// The data inside a version: every dtype, filters, compound records, selections and
// attributes, each checked against what h5py (an independent reader) sees.
import test from 'ava'
import { join } from 'node:path'
import { VersionedFile } from '../index.js'
import { PYTHON, py, rawRows, throwsCode, tmpFile } from './helpers.js'
import { execFileSync } from 'node:child_process'

/** h5py's view of a version dataset: dtype string, data as JSON, fill value. */
function h5(path: string, version: string, name: string): { dtype: string; data: unknown[]; kind: string } {
  return py(
    `import h5py, json, sys, numpy as np
d = h5py.File(sys.argv[1], 'r')['_version_data/versions/' + sys.argv[2] + '/' + sys.argv[3]]
a = d[()]
def conv(x):
    if isinstance(x, bytes): return x.decode('utf-8')
    if isinstance(x, np.generic): return x.item() if not isinstance(x, np.bytes_) else x.decode('utf-8')
    return x
print(json.dumps({'dtype': str(d.dtype), 'kind': d.dtype.kind, 'data': [conv(x) for x in a.ravel().tolist()]}))`,
    path,
    version,
    name,
  )
}

test('float16 reads as Float32Array, writes round to nearest even, and h5py sees float16', async (t) => {
  const p = tmpFile('f16')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    g.createDataset('h', { data: [0.5, -2, 65504, 1 / 3, 1e-8], dtype: 'float16', chunks: [2], fillValue: 1.5 })
  })
  const d = vf.version('v1').dataset('h')
  t.is(d.dtype, 'float16')
  t.is(d.fillValue, 1.5)
  const got = await d.read()
  t.true(got instanceof Float32Array)
  t.deepEqual(Array.from(got as Float32Array), [0.5, -2, 65504, 0.333251953125, 0])
  await vf.stageVersion('v2', (g) => {
    const x = g.dataset('h')
    x.resize([7])
    x.write([5], new Float32Array([3.25]))
  })
  t.deepEqual(Array.from((await vf.version('v2').dataset('h').read()) as Float32Array), [0.5, -2, 65504, 0.333251953125, 0, 3.25, 1.5])
  vf.close()
  const seen = h5(p, 'v2', 'h')
  t.is(seen.dtype, 'float16')
  t.deepEqual(seen.data, [0.5, -2, 65504, 0.333251953125, 0, 3.25, 1.5])
})

const STRING_KINDS: Array<[string, string, string]> = [
  // [our dtype, h5py's numpy dtype, h5py string_dtype info]
  ['string', 'object', "string_info(encoding='utf-8', length=None)"],
  ['ascii', 'object', "string_info(encoding='ascii', length=None)"],
  ['S20', '|S20', "string_info(encoding='ascii', length=20)"],
  ['utf8[20]', '|S20', "string_info(encoding='utf-8', length=20)"],
]

for (const [dtype, npdt, info] of STRING_KINDS) {
  test(`${dtype} strings: round-trip, resize pads with '', h5py sees ${info}`, async (t) => {
    const p = tmpFile('str')
    const vf = VersionedFile.open(p, { mode: 'w' })
    const words = Array.from({ length: 10 }, () => 'hello world')
    await vf.stageVersion('v1', (g) => void g.createDataset('s', { data: words, dtype, chunks: [4] }))
    await vf.stageVersion('v2', (g) => {
      const s = g.dataset('s')
      s.resize(11)
      s.write([[0, 2]], ['a', dtype === 'ascii' || dtype === 'S20' ? 'b' : 'ü'])
    })
    await vf.stageVersion('v3', (g) => void g.dataset('s').resize([12]))
    const v1 = vf.version('v1').dataset('s')
    t.is(v1.dtype, dtype)
    t.is(v1.fillValue, '')
    t.deepEqual(await v1.read(), words)
    const want3 = ['a', dtype === 'ascii' || dtype === 'S20' ? 'b' : 'ü', ...words.slice(2), '', '']
    t.deepEqual(await vf.version('v3').dataset('s').read(), want3)
    vf.close()
    const info3 = py<[string, string]>(
      `import h5py, json, sys
d = h5py.File(sys.argv[1], 'r')['_version_data/versions/v3/s']
print(json.dumps([str(d.dtype), str(h5py.check_string_dtype(d.dtype))]))`,
      p,
    )
    t.deepEqual(info3, [npdt, info])
    t.deepEqual(h5(p, 'v3', 's').data, want3)
  })
}

test('strings: a non-empty fill value is refused for variable-length strings; fixed strings truncate like NumPy', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  await throwsCode(t, () => vf.stageVersion('v1', (g) => void g.createDataset('s', { shape: [3], dtype: 'string', fillValue: 'x' })), 'INVALID_ARGUMENT')
  t.deepEqual(vf.versions, [])
  await vf.stageVersion('v1', (g) => {
    g.createDataset('f', { data: ['abcdef', 'xy'], dtype: 'S4', fillValue: 'zz' })
    g.createDataset('n', { data: ['a', 'b'] })
  })
  t.deepEqual(await vf.version('v1').dataset('f').read(), ['abcd', 'xy'])
  t.is(vf.version('v1').dataset('f').fillValue, 'zz')
  t.is(vf.version('v1').dataset('n').dtype, 'string')
  await throwsCode(t, () => vf.stageVersion('v2', (g) => g.dataset('n').write([0], 5)), 'DTYPE_MISMATCH')
  await throwsCode(t, () => vf.stageVersion('v2', (g) => g.dataset('f').write([0], 5)), 'DTYPE_MISMATCH')
  await throwsCode(t, () => vf.stageVersion('v2', (g) => void g.createDataset('z', { data: [1, 2], dtype: 'complex64' })), 'UNSUPPORTED_DTYPE')
  await throwsCode(t, () => vf.stageVersion('v2', (g) => void g.createDataset('a', { data: ['é'], dtype: 'ascii' })), 'INVALID_ARGUMENT')
  t.deepEqual(vf.versions, ['v1'])
  vf.close()
})

test('compound datasets written by Python read as one array per field; writing them is UNSUPPORTED_DTYPE', async (t) => {
  const p = tmpFile('compound')
  execFileSync(PYTHON, [join(__dirname, 'py', 'make_compound.py'), p])
  const vf = VersionedFile.open(p, { mode: 'a' })
  const d = vf.version('v1').dataset('rec')
  t.is(d.dtype, 'compound{a:int32,b:float64,s:S5,h:float16}')
  t.is(d.fillValue, null)
  const rec = (await d.read()) as Record<string, unknown>
  t.deepEqual(Array.from(rec.a as Int32Array), [1, -2, 3])
  t.deepEqual(Array.from(rec.b as Float64Array), [0.5, 2.25, -1])
  t.deepEqual(rec.s, ['ab', 'hello', ''])
  t.deepEqual(Array.from(rec.h as Float32Array), [1.5, -0.25, 65504])
  const one = d.readSync([[1, 2]]) as Record<string, unknown>
  t.deepEqual(Array.from(one.a as Int32Array), [-2])
  // A new version that leaves it alone carries it over; writing to it is refused.
  await vf.stageVersion('v2', (g) => void g.createDataset('other', { data: [1] }))
  t.deepEqual(Array.from(((await vf.version('v2').dataset('rec').read()) as Record<string, Int32Array>).a), [1, -2, 3])
  await throwsCode(t, () => vf.stageVersion('v3', (g) => g.dataset('rec').write([0], 1)), 'UNSUPPORTED_DTYPE')
  await throwsCode(t, () => vf.stageVersion('v3', (g) => g.dataset('rec').resize(5)), 'UNSUPPORTED_DTYPE')
  t.deepEqual(vf.versions.sort(), ['v1', 'v2'])
  vf.close()
})

test('filters: gzip 0-9, lzf, shuffle and fletcher32 land on raw_data and read back', async (t) => {
  const p = tmpFile('filters')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const data = new Float64Array(5000).map((_, i) => Math.round(Math.sin(i / 50) * 100))
  const specs: Array<[string, Record<string, unknown>]> = []
  for (let level = 0; level <= 9; level++) specs.push([`gz${level}`, { compression: 'gzip', compressionLevel: level }])
  specs.push(['lzf', { compression: 'lzf' }], ['shuf', { compression: 'gzip', shuffle: true, fletcher32: true }], ['none', {}])
  await vf.stageVersion('v1', (g) => {
    for (const [name, opts] of specs) g.createDataset(name, { data, chunks: [1000], ...opts })
  })
  for (const [name, opts] of specs) {
    const d = vf.version('v1').dataset(name)
    t.deepEqual(Array.from((await d.read()) as Float64Array), Array.from(data), name)
    t.is(d.compression, (opts.compression as string | undefined) ?? null, name)
    t.is(d.compressionLevel, opts.compression === 'gzip' ? ((opts.compressionLevel as number | undefined) ?? 4) : null, name)
    t.is(d.shuffle, opts.shuffle === true, name)
    t.is(d.fletcher32, opts.fletcher32 === true, name)
  }
  vf.close()
  const seen = py<Record<string, [string | null, unknown, boolean, boolean]>>(
    `import h5py, json, sys
f = h5py.File(sys.argv[1], 'r')
out = {}
for k in f['_version_data']:
    if k == 'versions': continue
    r = f['_version_data/' + k + '/raw_data']
    out[k] = [r.compression, r.compression_opts, r.shuffle, r.fletcher32]
print(json.dumps(out))`,
    p,
  )
  for (let level = 0; level <= 9; level++) t.deepEqual(seen[`gz${level}`], ['gzip', level, false, false])
  t.deepEqual(seen.lzf, ['lzf', null, false, false])
  t.deepEqual(seen.shuf, ['gzip', 4, true, true])
  t.deepEqual(seen.none, [null, null, false, false])
})

test('filters, chunks, fill value and dtype are fixed per path: a conflicting version commits nothing', async (t) => {
  const p = tmpFile('fixed')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: [1, 2, 3], chunks: [2], compression: 'gzip', compressionLevel: 3, fillValue: 7 }))
  const rows = rawRows(p, 'x')
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ compression: 'lzf', fillValue: 7 }, 'INCOMPATIBLE_DATASET'],
    [{ compression: 'gzip', compressionLevel: 4, fillValue: 7 }, 'INCOMPATIBLE_DATASET'],
    [{ compression: 'gzip', compressionLevel: 3, chunks: [4], fillValue: 7 }, 'INCOMPATIBLE_DATASET'],
    [{ compression: 'gzip', compressionLevel: 3 }, 'INCOMPATIBLE_DATASET'],
    [{ compression: 'gzip', compressionLevel: 3, fillValue: 7, dtype: 'int64', data: [1, 2, 3] }, 'DTYPE_MISMATCH'],
  ]
  for (const [opts, code] of cases) {
    await throwsCode(t, () => vf.stageVersion('v2', (g) => void g.createDataset('x', { data: [9, 9, 9], chunks: [2], ...opts })), code)
  }
  // Deleting the path in between does not free its settings either (spec §1.9).
  await vf.stageVersion('v2', (g) => g.delete('x'))
  await throwsCode(t, () => vf.stageVersion('v3', (g) => void g.createDataset('x', { data: [1], chunks: [2], compression: 'lzf', fillValue: 7 })), 'INCOMPATIBLE_DATASET')
  t.deepEqual(vf.versions, ['v1', 'v2'])
  t.is(rawRows(p, 'x'), rows)
  // The same settings are fine.
  await vf.stageVersion('v3', (g) => void g.createDataset('x', { data: [5, 6, 7, 8], chunks: [2], compression: 'gzip', compressionLevel: 3, fillValue: 7 }))
  t.deepEqual(Array.from((await vf.version('v3').dataset('x').read()) as Float64Array), [5, 6, 7, 8])
  vf.close()
})

test('selections: negative indices, steps, whole axes and index lists, for read and write; out of range is OUT_OF_BOUNDS', async (t) => {
  const p = tmpFile('sel')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const base = new Int32Array(6 * 7).map((_, i) => i)
  await vf.stageVersion('v1', (g) => void g.createDataset('m', { data: base, shape: [6, 7], chunks: [4, 3] }))
  await vf.stageVersion('v2', (g) => {
    const m = g.dataset('m')
    m.write([-1, [1, 7, 2]], new Int32Array([-1, -2, -3]))
    m.write([{ indices: [4, 0, 2] }, 0], new Int32Array([100, 101, 102]))
    m.write([[null, null, 5], -2], 9)
    m.write([{ start: 1, stop: 3 }, { indices: [6, 1] }], new Int32Array([50, 51, 52, 53]))
  })
  const want = Array.from(base)
  const set = (r: number, c: number, v: number) => (want[r * 7 + c] = v)
  ;[1, 3, 5].forEach((c, i) => set(5, c, -1 - i))
  set(4, 0, 100), set(0, 0, 101), set(2, 0, 102)
  set(0, 5, 9), set(5, 5, 9)
  set(1, 6, 50), set(1, 1, 51), set(2, 6, 52), set(2, 1, 53)
  const m = vf.version('v2').dataset('m')
  t.deepEqual(Array.from((await m.read()) as Int32Array), want)
  t.deepEqual(Array.from(m.readSync([{ indices: [5, 0] }, -1]) as Int32Array), [want[41], want[6]])
  t.deepEqual(Array.from(m.readSync([[1, 6, 2], [null, null, 3]]) as Int32Array), [1, 3, 5].flatMap((r) => [0, 3, 6].map((c) => want[r * 7 + c])))
  t.deepEqual(Array.from(m.readSync([2]) as Int32Array), want.slice(14, 21))
  for (const sel of [[6], [-7], [0, 7], [{ indices: [0, 6] }], [[0, 2], { indices: [9] }]] as unknown[]) {
    await throwsCode(t, () => m.read(sel as never), 'OUT_OF_BOUNDS')
  }
  await throwsCode(t, () => vf.stageVersion('v3', (g) => g.dataset('m').write([9, 0], 1)), 'OUT_OF_BOUNDS')
  await throwsCode(t, () => vf.stageVersion('v3', (g) => g.dataset('m').write([0], new Int32Array(3))), 'SHAPE_MISMATCH')
  await throwsCode(t, () => m.read([[0, 3, 0]]), 'INVALID_ARGUMENT')
  t.deepEqual(vf.versions, ['v1', 'v2'])
  vf.close()
  t.deepEqual(h5(p, 'v2', 'm').data, want)
})

test('index lists: arrays and typed arrays of every integer kind, runs across chunks, duplicates (the last written wins), and the forms refused', async (t) => {
  const p = tmpFile('sel-lists')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const n = 1000
  const base = Float64Array.from({ length: n }, (_, i) => i)
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: base, chunks: [64] }))
  const want = Array.from(base)
  // Sorted runs that cross chunk boundaries, gaps, and an unsorted tail.
  const idx = [...Array.from({ length: 300 }, (_, i) => 50 + i), ...Array.from({ length: 100 }, (_, i) => 500 + 3 * i), 999, 7, 3]
  const kinds = [Array.from(idx), Int32Array.from(idx), Uint16Array.from(idx), Float64Array.from(idx), BigInt64Array.from(idx.map(BigInt)), Uint32Array.from(idx)]
  await vf.stageVersion('v2', (g) => {
    const x = g.dataset('x')
    kinds.forEach((list, k) => {
      const vals = Float64Array.from(idx, (_, i) => 10_000 * (k + 1) + i)
      x.write([{ indices: list as never }], vals)
      idx.forEach((j, i) => (want[j] = vals[i]))
    })
    x.write([{ indices: [5, 6, 5] }], new Float64Array([1, 2, 3]))
    want[5] = 3
    want[6] = 2
    t.deepEqual(Array.from(x.readSync([{ indices: Int8Array.from([5, 6, -1]) }]) as Float64Array), [3, 2, want[999]])
  })
  const x = vf.version('v2').dataset('x')
  t.deepEqual(Array.from((await x.read()) as Float64Array), want)
  for (const list of kinds) {
    t.deepEqual(Array.from(x.readSync([{ indices: list as never }]) as Float64Array), idx.map((j) => want[j]))
    t.deepEqual(Array.from((await x.read([{ indices: list as never }])) as Float64Array), idx.map((j) => want[j]))
  }
  // The caller's selection is not changed by the call.
  const sel = [{ indices: [1, 2] }]
  x.readSync(sel)
  t.true(Array.isArray(sel[0].indices))
  for (const bad of [[1.5], ['1'], [1, undefined], new Float64Array([NaN]), new Float32Array([0.25])]) {
    t.throws(() => x.readSync([{ indices: bad as never }]), { code: 'INVALID_ARGUMENT' } as never)
  }
  t.throws(() => x.readSync([{ indices: new BigInt64Array([2n ** 60n]) }]), { code: 'INVALID_ARGUMENT' } as never)
  t.throws(() => x.readSync([{ indices: Int32Array.from([n]) }]), { code: 'OUT_OF_BOUNDS' } as never)
  vf.close()
})

test('attributes of every kind on version, group and dataset are what h5py reads; group and dataset ones are inherited', async (t) => {
  const p = tmpFile('attrs')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const values = { n: 3, f: -0.5, big: 2n ** 62n, b: true, s: 'ünï', ns: [1, 2, 3], fs: [0.5, 1.5], bs: [true, false], ss: ['a', 'bc'], bigs: [1n, 2n ** 62n] }
  await vf.stageVersion('v1', (g) => {
    const grp = g.createGroup('a/b')
    const d = grp.createDataset('d', { data: [1] })
    for (const [k, v] of Object.entries(values)) {
      g.attrs.set(k, v as never)
      grp.attrs.set(k, v as never)
      d.attrs.set(k, v as never)
    }
    // The format's own names stay the format's.
    t.throws(() => g.attrs.set('committed', 1), { code: 'INVALID_ARGUMENT' } as never)
    t.throws(() => d.attrs.set('raw_data', 'x'), { code: 'INVALID_ARGUMENT' } as never)
  })
  const expectJs = { ...values, bigs: [1, 2n ** 62n] }
  const v1 = vf.version('v1')
  t.deepEqual(v1.attrs.toObject(), expectJs)
  t.deepEqual(v1.group('a/b').attrs.toObject(), expectJs)
  t.deepEqual(v1.dataset('a/b/d').attrs.toObject(), expectJs)
  await vf.stageVersion('v2', (g) => {
    t.deepEqual(g.attrs.toObject(), {})
    t.deepEqual(g.group('a/b').attrs.toObject(), expectJs)
    g.dataset('a/b/d').attrs.set('n', 4)
  })
  t.deepEqual(vf.version('v2').attrs.toObject(), {})
  t.is(vf.version('v2').dataset('a/b/d').attrs.get('n'), 4)
  t.is(vf.version('v1').dataset('a/b/d').attrs.get('n'), 3)
  vf.close()
  const seen = py<Record<string, Record<string, unknown>>>(
    `import h5py, json, sys, numpy as np
f = h5py.File(sys.argv[1], 'r')
def conv(v):
    if isinstance(v, np.ndarray): return [conv(x) for x in v.tolist()]
    if isinstance(v, (np.generic,)): return conv(v.item())
    if isinstance(v, bytes): return v.decode()
    if isinstance(v, int) and abs(v) > 2**53: return str(v)
    return v
out = {}
for p in ['versions/v1', 'versions/v1/a/b', 'versions/v1/a/b/d']:
    o = f['_version_data/' + p]
    out[p] = {k: conv(o.attrs[k]) for k in o.attrs}
print(json.dumps(out))`,
    p,
  )
  const expectPy = { n: 3, f: -0.5, big: String(2n ** 62n), b: true, s: 'ünï', ns: [1, 2, 3], fs: [0.5, 1.5], bs: [true, false], ss: ['a', 'bc'], bigs: [1, String(2n ** 62n)] }
  const { prev_version, committed, timestamp, ...userRoot } = seen['versions/v1']
  t.is(prev_version, '__first_version__')
  t.is(committed, true)
  t.regex(String(timestamp), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+0000$/)
  t.deepEqual(userRoot, expectPy)
  t.deepEqual(seen['versions/v1/a/b'], expectPy)
  const { raw_data, chunks, ...userDs } = seen['versions/v1/a/b/d']
  t.is(raw_data, '/_version_data/a/b/d/raw_data')
  t.deepEqual(chunks, [4096])
  t.deepEqual(userDs, expectPy)
})

test('sparse: a 1e11-element dataset with one written element commits, reads back, and stores one chunk', async (t) => {
  const p = tmpFile('sparse')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    const d = g.createDataset('big', { shape: [1e11], chunks: [1e6], dtype: 'float64', fillValue: -1 })
    d.write([5e10 + 3], 42)
  })
  const d = vf.version('v1').dataset('big')
  t.deepEqual(d.shape, [1e11])
  t.deepEqual(Array.from((await d.read([[5e10, 5e10 + 5]])) as Float64Array), [-1, -1, -1, 42, -1])
  t.deepEqual(Array.from((await d.read([[0, 2]])) as Float64Array), [-1, -1])
  t.is(rawRows(p, 'big'), 1e6)
  vf.close()
})

test('version graph: branches, makeCurrent false, setCurrentVersion, version(-n) and history with parents', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  const ts = (s: number) => BigInt(Date.UTC(2024, 0, 1) + s * 1000) * 1000n
  await vf.stageVersion('a', (g) => void g.createDataset('x', { data: [1] }), { timestamp: ts(1) })
  await vf.stageVersion('b', (g) => g.dataset('x').write([0], 2), { timestamp: ts(2) })
  await vf.stageVersion('c', (g) => g.dataset('x').write([0], 3), { timestamp: ts(3) })
  await vf.stageVersion('b2', (g) => g.dataset('x').write([0], 22), { prevVersion: 'a', makeCurrent: false, timestamp: ts(4) })
  t.is(vf.currentVersion, 'c')
  t.deepEqual([0, -1, -2].map((n) => vf.version(n).name), ['c', 'b', 'a'])
  await throwsCode(t, () => vf.version(-3), 'VERSION_NOT_FOUND')
  await throwsCode(t, () => vf.version(1), 'INVALID_ARGUMENT')
  vf.setCurrentVersion('b2')
  t.deepEqual([0, -1].map((n) => vf.version(n).name), ['b2', 'a'])
  t.deepEqual(Array.from((await vf.version(0).dataset('x').read()) as Float64Array), [22])
  t.deepEqual(
    vf.history().map((h) => [h.name, h.prevVersion, h.timestampMicros]),
    [['a', '__first_version__', ts(1)], ['b', 'a', ts(2)], ['c', 'b', ts(3)], ['b2', 'a', ts(4)]],
  )
  await throwsCode(t, () => vf.setCurrentVersion('nope'), 'VERSION_NOT_FOUND')
  vf.close()
})
