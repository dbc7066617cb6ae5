import test from 'ava'

import { VersionedFile } from '../index.js'
import { ds, py, throwsCode, tmpFile } from './helpers.js'

const TYPED: Array<[string, (n: number) => ArrayLike<number | bigint>]> = [
  ['int8', (n) => new Int8Array(n).map((_, i) => (i % 200) - 100)],
  ['int16', (n) => new Int16Array(n).map((_, i) => i * 3 - 500)],
  ['int32', (n) => new Int32Array(n).map((_, i) => i * 100003 - 7)],
  ['int64', (n) => BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 9_007_199_254_740_993n - 5n)],
  ['uint8', (n) => new Uint8Array(n).map((_, i) => i % 256)],
  ['uint16', (n) => new Uint16Array(n).map((_, i) => i * 7)],
  ['uint32', (n) => new Uint32Array(n).map((_, i) => 4_000_000_000 - i)],
  ['uint64', (n) => BigUint64Array.from({ length: n }, (_, i) => 18_000_000_000_000_000_000n + BigInt(i))],
  ['float32', (n) => new Float32Array(n).map((_, i) => i / 4)],
  ['float64', (n) => new Float64Array(n).map((_, i) => Math.sin(i))],
]

for (const [dtype, make] of TYPED) {
  test(`${dtype}: round-trips 1-D and 3-D with edge chunks, and h5py agrees`, async (t) => {
    const p = tmpFile(dtype)
    const vf = VersionedFile.open(p, { mode: 'w' })
    const one = make(23)
    const three = make(5 * 4 * 3)
    await vf.stageVersion('v1', (g) => {
      g.createDataset('one', { data: one as any, chunks: [5] })
      g.createDataset('three', { data: three as any, shape: [5, 4, 3], chunks: [2, 3, 2] })
    })
    const v = vf.version('v1')
    t.is(ds(v, 'one').dtype, dtype)
    t.deepEqual(ds(v, 'three').shape, [5, 4, 3])
    t.deepEqual(Array.from(await ds(v, 'one').read() as ArrayLike<unknown>), Array.from(one))
    t.deepEqual(Array.from(await ds(v, 'three').read() as ArrayLike<unknown>), Array.from(three))
    // A selection of the 3-D dataset: [1, 0:4:2, -1]
    const sel = Array.from(ds(v, 'three').readSync([1, [0, 4, 2], -1]) as ArrayLike<unknown>)
    t.deepEqual(sel, [Array.from(three)[1 * 12 + 0 * 3 + 2], Array.from(three)[1 * 12 + 2 * 3 + 2]])
    vf.close()
    const h = py<{ one: string[]; three: string[]; dt: string }>(
      `import h5py, json, sys
g = h5py.File(sys.argv[1], 'r')['_version_data/versions/v1']
print(json.dumps({'one': [str(x) for x in g['one'][()].ravel()], 'three': [str(x) for x in g['three'][()].ravel()], 'dt': str(g['one'].dtype)}))`,
      p,
    )
    t.is(h.dt, dtype)
    const fmt = (x: unknown) => (dtype.startsWith('float') ? String(Number(x)) : String(x))
    t.deepEqual(h.one.map((x) => fmt(dtype.startsWith('float') ? Number(x) : x)), Array.from(one).map(fmt))
    t.deepEqual(h.three.map((x) => fmt(dtype.startsWith('float') ? Number(x) : x)), Array.from(three).map(fmt))
  })
}

test('bool datasets read back as Uint8Array of 0/1 and are h5py bools', async (t) => {
  const p = tmpFile('bool')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('b', { data: [true, false, true], dtype: 'bool', chunks: [2] }))
  t.deepEqual(Array.from(await ds(vf.version('v1'), 'b').read<Uint8Array>()), [1, 0, 1])
  t.is(ds(vf.version('v1'), 'b').fillValue, false)
  vf.close()
  t.deepEqual(py(`import h5py, json, sys; d = h5py.File(sys.argv[1], 'r')['_version_data/versions/v1/b']; print(json.dumps([str(d.dtype), d[()].tolist()]))`, p), ['bool', [true, false, true]])
})

test('writes with steps, index lists, broadcast and reads see staged changes', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    const x = g.createDataset('x', { shape: [4, 6], chunks: [3, 4], dtype: 'int32' })
    x.write([null, [0, 6, 2]], 1)
    x.write([{ indices: [3, 0] }, 5], new Int32Array([8, 9]))
    t.deepEqual(Array.from(x.readSync<Float64Array>([0])), [1, 0, 1, 0, 1, 9])
    t.deepEqual(Array.from(x.readSync<Float64Array>([3])), [1, 0, 1, 0, 1, 8])
    t.deepEqual(Array.from(x.readSync<Float64Array>([[-1, null], [4, null]])), [1, 8])
  })
  const got = Array.from(await ds(vf.version('v1'), 'x').read<Float64Array>())
  t.deepEqual(got, [1, 0, 1, 0, 1, 9, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 8])
  vf.close()
})

test('groups, keys and attributes of versions, groups and datasets', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    g.attrs.set('run', 7)
    const meta = g.createGroup('meta')
    meta.attrs.set('source', 'feed-a')
    meta.attrs.set('ids', [1, 2, 3])
    meta.attrs.set('big', 2n ** 60n)
    meta.attrs.set('ratio', 0.25)
    meta.attrs.set('ok', true)
    meta.attrs.set('tags', ['x', 'y'])
    const d = meta.createDataset('series/a', { data: [1, 2] })
    d.attrs.set('unit', 'EUR')
  })
  const v = vf.version('v1')
  t.deepEqual(v.keys(), ['meta'])
  t.deepEqual(v.keys('meta'), ['series'])
  t.deepEqual(v.datasets(), ['meta/series/a'])
  t.deepEqual(v.attrs.toObject(), { run: 7 })
  t.deepEqual(v.get('meta').attrs.toObject(), { source: 'feed-a', ids: [1, 2, 3], big: 2n ** 60n, ratio: 0.25, ok: true, tags: ['x', 'y'] })
  t.is(ds(v, 'meta/series/a').attrs.get('unit'), 'EUR')
  // Datasets inherit attributes; the version's own attributes are not inherited (spec §1.8).
  await vf.stageVersion('v2', (g) => t.deepEqual(ds(g, 'meta/series/a').attrs.toObject(), { unit: 'EUR' }))
  t.deepEqual(vf.version('v2').attrs.toObject(), {})
  t.is(ds(vf.version('v2'), 'meta/series/a').attrs.get('unit'), 'EUR')
  t.is(vf.version('v2').get('meta').attrs.get('source'), 'feed-a')
  vf.close()
})

test('inherited datasets load only the chunks they touch', async (t) => {
  const vf = VersionedFile.open(tmpFile(), { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: new Float64Array(1000).map((_, i) => i), chunks: [100] }))
  await vf.stageVersion('v2', async (g) => {
    const x = ds(g, 'x')
    x.write([[150, 250]], 0)
    t.deepEqual(Array.from(await x.read<Float64Array>([[148, 152]])), [148, 149, 0, 0])
  })
  const v2 = await ds(vf.version('v2'), 'x').read<Float64Array>()
  t.is(v2[149], 149)
  t.is(v2[150], 0)
  t.is(v2[249], 0)
  t.is(v2[250], 250)
  vf.close()
})

// Reads served from the read cache (repeated reads, read() settled at once) and large
// results handed to JS without a copy must read exactly like the first read.
test('repeated reads, large results and read() from the cache read the same', async (t) => {
  const vf = VersionedFile.open(tmpFile('cache'), { mode: 'w' })
  const n = 300_000 // 2.4 MB of float64: handed over without a copy
  const big = new Float64Array(n).map((_, i) => i * 0.5 - 7)
  const ints = new Int32Array(n).map((_, i) => i * 7 - 3)
  const bytes = new Uint8Array(n + 3).map((_, i) => i % 251)
  await vf.stageVersion('v1', (g) => {
    g.createDataset('f', { data: big, chunks: [4096] })
    g.createDataset('i', { data: ints, chunks: [4096] })
    g.createDataset('b', { data: bytes, chunks: [4096] })
  })
  await vf.stageVersion('v2', (g) => ds(g, 'f').write([[10, 20]], new Float64Array(10).fill(1)))
  for (let round = 0; round < 3; round++) {
    t.deepEqual(await ds(vf.version('v1'), 'f').read(), big)
    t.deepEqual(ds(vf.version('v1'), 'i').readSync(), ints)
    t.deepEqual(await ds(vf.version('v1'), 'b').read(), bytes)
    const small = (await ds(vf.version('v1'), 'f').read([[4090, 4100]])) as Float64Array
    t.deepEqual(small, big.slice(4090, 4100))
    t.is(small.byteOffset, 0)
    t.is(small.buffer.byteLength, 80, 'a result owns its buffer')
    const v2 = (await ds(vf.version('v2'), 'f').read([[0, 30]])) as Float64Array
    const want = big.slice(0, 30)
    want.fill(1, 10, 20)
    t.deepEqual(v2, want)
    // The chunks are cached now, yet a selection out of range still rejects.
    await throwsCode(t, () => ds(vf.version('v1'), 'f').read([n]), 'OUT_OF_BOUNDS')
  }
  // Results are independent of the cache and of each other.
  const a = (await ds(vf.version('v1'), 'f').read([[0, 5]])) as Float64Array
  a[0] = 1e9
  t.is(((await ds(vf.version('v1'), 'f').read([[0, 5]])) as Float64Array)[0], -7)
  const staged = await vf.stageVersion('v3', (g) => {
    t.deepEqual(ds(g, 'f').readSync([[4090, 4100]]), big.slice(4090, 4100))
  })
  t.is(staged.name, 'v3')
  const d = ds(vf.version('v1'), 'f')
  vf.close()
  await throwsCode(t, () => d.read([[0, 5]]), 'FILE_CLOSED')
  await throwsCode(t, () => d.readSync([[0, 5]]), 'FILE_CLOSED')
})

test('reads answered from the read cache straight into the typed array: fill values where no chunk is stored, every direct dtype, repeated reads equal the first', async (t) => {
  const path = tmpFile('direct-read')
  const vf = VersionedFile.open(path, { mode: 'w' })
  const dtypes = ['float64', 'float32', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool'] as const
  await vf.stageVersion('v1', (g) => {
    for (const dt of dtypes) {
      const fill = dt === 'bool' ? true : dt.endsWith('64') && dt.includes('int') ? 7n : 7
      const d = g.createDataset(dt, { shape: [100, 10], dtype: dt, chunks: [10, 5], fillValue: fill })
      // Two chunks written; the rest stays fill.
      const one = dt === 'bool' ? false : dt.endsWith('64') && dt.includes('int') ? 1n : 1
      d.write([[0, 10], [0, 5]], one)
      d.write([[50, 60], [5, 10]], one)
    }
  })
  const v = vf.version('v1')
  for (const dt of dtypes) {
    const ds = v.dataset(dt)
    const first = ds.readSync() as ArrayLike<number | bigint>
    for (const sel of [undefined, [[40, 70], [3, 8]], [55, 7], [[0, 100, 9], null]] as const) {
      const a = Array.from(ds.readSync(sel as never) as ArrayLike<number | bigint>)
      const b = Array.from((await ds.read(sel as never)) as ArrayLike<number | bigint>)
      t.deepEqual(b, a, `${dt} ${JSON.stringify(sel)}`)
    }
    const again = Array.from(ds.readSync() as ArrayLike<number | bigint>)
    t.deepEqual(again, Array.from(first), dt)
    const want = (r: number, c: number) => ((r < 10 && c < 5) || (r >= 50 && r < 60 && c >= 5) ? 'one' : 'fill')
    const one = dt === 'bool' ? 0 : 1
    const fill = 7
    for (let r = 0; r < 100; r += 7) {
      for (let c = 0; c < 10; c += 3) {
        const got = Number(again[r * 10 + c])
        t.is(got, want(r, c) === 'one' ? one : dt === 'bool' ? 1 : fill, `${dt} [${r}, ${c}]`)
      }
    }
  }
  vf.close()
})
