// readInto / readIntoSync: the selection lands in a typed array the caller owns, equal
// to what read() returns, on every path (read cache, off-thread read, staged data).
import test from 'ava'
import { VersionedFile } from '../index.js'
import type { Dataset } from '../index.js'
import { throwsCode, tmpFile } from './helpers.js'

const SELECTIONS: unknown[] = [
  undefined,
  [[2, 9]],
  [[null, null, 3], [1, 6]],
  [4, [0, 7, 2]],
  [{ indices: [11, 0, 5] }, -1],
  [[3, 3]],
]

/** A 2-D float64 dataset whose last chunks were never written (they read as the fill value). */
async function fixture(): Promise<string> {
  const p = tmpFile('into')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    const x = g.createDataset('x', { shape: [12, 8], dtype: 'float64', chunks: [5, 3], fillValue: -1 })
    x.write([[0, 7], null], Float64Array.from({ length: 56 }, (_, i) => i * 0.5))
    g.createDataset('b', { data: Uint8Array.from([1, 0, 1, 1]), dtype: 'bool', chunks: [2] })
    g.createDataset('i', { data: BigInt64Array.from([-5n, 2n ** 60n, 7n]), chunks: [2] })
    g.createDataset('s', { data: ['a', 'bc'], dtype: 'string', chunks: [2] })
  })
  vf.close()
  return p
}

async function same(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void; is: (a: unknown, b: unknown, m?: string) => void }, d: Dataset, sel: unknown, how: string) {
  const want = (await d.read(sel as never)) as Float64Array
  const out = new Float64Array(want.length + 4).fill(42)
  const n = how === 'sync' ? d.readIntoSync(out, sel as never) : await d.readInto(out, sel as never)
  t.is(n, want.length, `${how} ${JSON.stringify(sel)}: count`)
  t.deepEqual(Array.from(out.subarray(0, n)), Array.from(want), `${how} ${JSON.stringify(sel)}`)
  t.deepEqual(Array.from(out.subarray(n)), [42, 42, 42, 42], `${how} ${JSON.stringify(sel)}: the rest is untouched`)
}

test('readInto and readIntoSync fill the target exactly as read() returns, cold and cached', async (t) => {
  const p = await fixture()
  for (const how of ['async', 'sync']) {
    // A fresh handle: the first reads find nothing in the read cache.
    const vf = VersionedFile.open(p, { mode: 'r' })
    const d = vf.version('v1').dataset('x')
    const cold = new Float64Array(96)
    t.is(how === 'sync' ? d.readIntoSync(cold) : await d.readInto(cold), 96)
    t.is(cold[95], -1)
    t.is(cold[55], 27.5)
    for (const sel of SELECTIONS) await same(t, d, sel, how)
    vf.close()
  }
})

test('readInto writes through a subarray view at its offset, and other element types use their own arrays', async (t) => {
  const p = await fixture()
  const vf = VersionedFile.open(p, { mode: 'r' })
  const v = vf.version('v1')
  const big = new Float64Array(20)
  t.is(await v.dataset('x').readInto(big.subarray(3), [0, [0, 4]]), 4)
  t.deepEqual(Array.from(big.subarray(0, 8)), [0, 0, 0, 0, 0.5, 1, 1.5, 0])
  const b = new Uint8Array(4)
  t.is(v.dataset('b').readIntoSync(b), 4)
  t.deepEqual(Array.from(b), [1, 0, 1, 1])
  const i = new BigInt64Array(3)
  t.is(await v.dataset('i').readInto(i), 3)
  t.deepEqual(Array.from(i), [-5n, 2n ** 60n, 7n])
  vf.close()
})

test('readInto reads what a staged version holds, including writes not yet committed', async (t) => {
  const p = await fixture()
  const vf = VersionedFile.open(p, { mode: 'a' })
  await vf.stageVersion('v2', async (g) => {
    const x = g.dataset('x')
    x.write([11, null], 9)
    const out = new Float64Array(16)
    t.is(x.readIntoSync(out, [[10, 12]]), 16)
    t.deepEqual(Array.from(out), [...Array(8).fill(-1), ...Array(8).fill(9)])
    const again = new Float64Array(8)
    t.is(await x.readInto(again, [11]), 8)
    t.deepEqual(Array.from(again), Array(8).fill(9))
  })
  vf.close()
})

test('readInto refuses a wrong target with a code, and the async form rejects instead of throwing', async (t) => {
  const p = await fixture()
  const vf = VersionedFile.open(p, { mode: 'r' })
  const v = vf.version('v1')
  const x = v.dataset('x')
  await throwsCode(t, () => x.readIntoSync(new Float32Array(96)), 'DTYPE_MISMATCH')
  await throwsCode(t, () => x.readIntoSync(new Float64Array(95)), 'SHAPE_MISMATCH')
  await throwsCode(t, () => x.readIntoSync([0, 0] as never), 'INVALID_ARGUMENT')
  await throwsCode(t, () => x.readIntoSync(new Float64Array(8), [12]), 'OUT_OF_BOUNDS')
  await throwsCode(t, () => v.dataset('s').readIntoSync(new Uint8Array(2)), 'DTYPE_MISMATCH')
  await throwsCode(t, () => v.dataset('b').readIntoSync(new Int8Array(4)), 'DTYPE_MISMATCH')
  const cases: Array<[() => Promise<number>, string]> = [
    [() => x.readInto(new Float32Array(96)), 'DTYPE_MISMATCH'],
    [() => x.readInto(new Float64Array(2)), 'SHAPE_MISMATCH'],
    [() => x.readInto(new Float64Array(8), [12]), 'OUT_OF_BOUNDS'],
  ]
  for (const [bad, code] of cases) {
    let pending: Promise<number> | undefined
    t.notThrows(() => {
      pending = bad()
    })
    await throwsCode(t, () => pending, code)
  }
  // Nothing was written into a target that was too small.
  const small = new Float64Array(3).fill(7)
  await throwsCode(t, () => x.readInto(small), 'SHAPE_MISMATCH')
  t.deepEqual(Array.from(small), [7, 7, 7])
  vf.close()
})

test('a target detached while an off-thread readInto runs makes it reject, not crash', async (t) => {
  const p = tmpFile('into-detach')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const n = 300_000 // 2.4 MB: more than readInto answers on the event loop
  await vf.stageVersion('v1', (g) => {
    g.createDataset('x', { data: Float64Array.from({ length: n }, (_, i) => i), chunks: [1 << 15] })
  })
  vf.close()
  const ro = VersionedFile.open(p, { mode: 'r' })
  const x = ro.version('v1').dataset('x')
  const out = new Float64Array(n)
  const pending = x.readInto(out)
  structuredClone(out.buffer, { transfer: [out.buffer] })
  t.is(out.length, 0)
  await throwsCode(t, () => pending, 'SHAPE_MISMATCH')
  // The same read into a kept array completes.
  const kept = new Float64Array(n)
  t.is(await x.readInto(kept), n)
  t.is(kept[n - 1], n - 1)
  ro.close()
})
