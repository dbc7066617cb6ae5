import test from 'ava'

import { VersionedFile } from '../index.js'
import { ds, rawRows, tmpFile } from './helpers.js'

test('100 versions changing one chunk each of a 1,000-chunk dataset leave exactly 1,100 slots', async (t) => {
  const p = tmpFile('dedup')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const C = 16
  const data = new Float64Array(1000 * C).map((_, i) => i)
  await vf.stageVersion('v0', (g) => void g.createDataset('x', { data, chunks: [C] }))
  t.is(rawRows(p, 'x'), 1000 * C)
  for (let i = 1; i <= 100; i++) {
    await vf.stageVersion(`v${i}`, (g) => ds(g, 'x').write([(i * 7) % 1000 * C + 3], -i))
  }
  t.is(rawRows(p, 'x') / C, 1100)
  // Rewriting identical data adds no slot.
  await vf.stageVersion('same', (g) => ds(g, 'x').write(null, data))
  t.is(rawRows(p, 'x') / C, 1100)
  const same = await ds(vf.version('same'), 'x').read<Float64Array>()
  t.deepEqual(same, data)
  const v50 = await ds(vf.version('v50'), 'x').read<Float64Array>([[350 * C, 351 * C]])
  t.is(v50[3], -50)
  t.is(v50[4], 350 * C + 4)
  vf.close()
})

test('identical chunks within one version are stored once', async (t) => {
  const p = tmpFile('dedup2')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const data = new Int32Array(40).map((_, i) => i % 10)
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data, chunks: [10] }))
  t.is(rawRows(p, 'x'), 10)
  t.deepEqual(await ds(vf.version('v1'), 'x').read(), data)
  vf.close()
})

test('chunks never written stay unmapped and cost nothing', async (t) => {
  const p = tmpFile('sparse')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    g.createDataset('s', { shape: [1000, 1000], chunks: [100, 100], dtype: 'float32', fillValue: 0.5 })
    ds(g, 's').write([999, 999], 7)
  })
  t.is(rawRows(p, 's'), 100)
  const v = ds(vf.version('v1'), 's')
  t.deepEqual(Array.from(await v.read<Float64Array>([[998, 1000], [998, 1000]])), [0.5, 0.5, 0.5, 7])
  vf.close()
})

test('a large typed array spanning many slot batches commits whole: duplicates stored once, fill chunks unmapped, edge chunk kept, in every compression', async (t) => {
  // 40 MiB of float64 in chunks of 2^15: more than one batch of slots, chunk i repeats
  // pattern i % 9, chunk 3 is all zeros, and the last chunk is short.
  const C = 32768
  const n = 160 * C + 1234
  const data = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / C)
    data[i] = c === 3 ? 0 : (c % 9) * 1e6 + (i % C) + 0.25
  }
  for (const compression of [undefined, 'gzip', 'lzf'] as const) {
    const p = tmpFile(`big-${compression ?? 'none'}`)
    const vf = VersionedFile.open(p, { mode: 'w' })
    await vf.stageVersion('v1', (g) => void g.createDataset('x', { data, chunks: [C], ...(compression ? { compression } : {}) }))
    // Nine patterns (the one of chunk 3 recurs in chunks 12, 21, …) and the edge chunk.
    t.is(rawRows(p, 'x') / C, 10, `${compression}`)
    t.deepEqual(await ds(vf.version('v1'), 'x').read(), data)
    t.true(vf.verifySync().ok)
    vf.close()
    const r = VersionedFile.open(p, { mode: 'r' })
    t.deepEqual(await ds(r.version('v1'), 'x').read([[n - 2000, n]]), data.subarray(n - 2000))
    r.close()
  }
})

test('createDataset keeps its typed array without copying: it is read when the version commits', async (t) => {
  const p = tmpFile('held')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const data = new Float64Array(100).map((_, i) => i)
  await vf.stageVersion('v1', async (g) => {
    g.createDataset('x', { data, chunks: [10] })
    data[5] = -5
    t.is((await ds(g, 'x').read<Float64Array>([5]))[0], -5)
  })
  data[6] = -6
  const got = await ds(vf.version('v1'), 'x').read<Float64Array>()
  t.is(got[5], -5)
  t.is(got[6], 6, 'changes after the commit are not seen')
  vf.close()
})

test('a typed array given to createDataset and then transferred before the commit: INVALID_ARGUMENT, nothing committed, the name is free', async (t) => {
  const path = tmpFile('detached')
  const vf = VersionedFile.open(path, { mode: 'w' })
  const a = new Float64Array(10_000).fill(1)
  const err = await t.throwsAsync(
    vf.stageVersion('v1', async (g) => {
      g.createDataset('x', { data: a, chunks: [1000] })
      await Promise.resolve()
      structuredClone(a.buffer, { transfer: [a.buffer] })
    }),
  )
  t.is((err as Error & { code?: string }).code, 'INVALID_ARGUMENT')
  t.false(vf.versions.includes('v1'))
  const b = new Float64Array(10_000).fill(2)
  await vf.stageVersion('v1', (g) => {
    g.createDataset('x', { data: b, chunks: [1000] })
  })
  t.is((vf.version('v1').dataset('x').readSync() as Float64Array)[9999], 2)
  t.true(vf.verifySync().ok)
  vf.close()
})

test('a new dataset larger than one write batch (hashed batch by batch while the batch before is written) deduplicates across batches', async (t) => {
  // 300 chunks of 2^15 float64 (75 MiB): three batches of 32 MiB. Chunk i holds pattern
  // i % 40 (so later batches repeat earlier ones), except every 7th chunk, which is all
  // fill value and stays unmapped, and a short last chunk.
  const C = 1 << 15
  const n = 300 * C - 1000
  const data = new Float64Array(n)
  const pattern = (i: number) => (i % 7 === 3 ? -1 : i % 40)
  for (let i = 0; i < n; i++) {
    const k = Math.floor(i / C)
    data[i] = pattern(k) === -1 ? 0 : pattern(k) * 1e6 + (i % C)
  }
  // A staged write over chunk 250's data (in the last batch): it must win over the source.
  const p = tmpFile('stream')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v0', (g) => {
    const x = g.createDataset('x', { data, chunks: [C] })
    x.write([[250 * C, 250 * C + 3]], [7, 8, 9])
  })
  const distinct = new Set<string>()
  for (let k = 0; k < 300; k++) {
    if (k === 299) distinct.add('edge')
    else if (k === 250) distinct.add('written')
    else if (pattern(k) !== -1) distinct.add(String(pattern(k)))
  }
  vf.close()
  t.is(rawRows(p, 'x'), distinct.size * C)
  const ro = VersionedFile.open(p, { mode: 'r' })
  const back = (await ro.version('v0').dataset('x').read()) as Float64Array
  const want = data.slice()
  want.set([7, 8, 9], 250 * C)
  t.is(back.length, n)
  let diff = -1
  for (let i = 0; i < n && diff < 0; i++) if (back[i] !== want[i]) diff = i
  t.is(diff, -1, `first difference at ${diff}`)
  t.true((await ro.verify()).ok)
  ro.close()
})
