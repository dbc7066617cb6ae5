// Streams larger than memory (README "Streams larger than memory",
// docs/design/014-bounded-staging.md): Dataset.append on new and inherited datasets,
// the staging memory budget (chunks written to the file ahead of the commit, still
// atomic: a throw, close(), an abort at any change or a SIGKILL leaves the exact
// bytes), writable() under pipeline, readBlocks, and Python versioned-hdf5 2.4 / 2.6
// reading appended versions. Cost: about 20 s, most of it the abort sweep (about 60
// child processes) and the 512 MiB child.
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'

import { VersionedFile } from '../index.js'
import type { Dataset } from '../index.js'
import { VENV26_PYTHON, VENV_PYTHON, ds, rawRows, throwsCode, tmpFile, vpyWith } from './helpers.js'
import { snapshot } from './support/snapshot.js'
import { ingest } from '../examples/ticks.js'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ops = require('./stream/ops.js') as {
  writeBase: (vf: VersionedFile) => Promise<void>
  appendVersion: (vf: VersionedFile, hook?: (p: number) => Promise<void>) => Promise<void>
  piece: (from: number, n: number) => Float64Array
}

const DIR = join(__dirname, 'stream')
const DUMP = join(__dirname, 'py', 'dump_versions.py')

/** A new file holding the base history (ops.js writeBase), closed. */
async function baseFile(tag: string): Promise<string> {
  const p = tmpFile(tag)
  const vf = VersionedFile.open(p, { mode: 'w' })
  await ops.writeBase(vf)
  vf.close()
  return p
}

/** What a reader sees of `base` once the spilling version (ops.js appendVersion) is committed to a copy of it. */
async function withVersion(base: string): Promise<unknown> {
  const whole = tmpFile('whole')
  copyFileSync(base, whole)
  const wf = VersionedFile.open(whole, { mode: 'a' })
  await ops.appendVersion(wf)
  wf.close()
  return snapshot(whole)
}

const range = (n: number, f: (i: number) => number = (i) => i) => Array.from({ length: n }, (_, i) => f(i))
const values = (x: unknown) => (Array.isArray(x) ? x : Array.from(x as ArrayLike<number | bigint>))

test('append: new datasets created empty, 1-D and 2-D along either axis, int64 and strings, pieces and async iterables', async (t) => {
  const p = tmpFile('append')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', async (g) => {
    const x = g.createDataset('x', { shape: [0], dtype: 'float64', chunks: [100] })
    for (let i = 0; i < 7; i++) await x.append(new Float64Array(130).map((_, j) => i * 130 + j))
    t.deepEqual(x.shape, [910])
    // Read back while staged, across chunks written ahead of the commit.
    t.deepEqual(values(await x.read([[95, 105]])), range(10, (i) => 95 + i))
    const m = g.createDataset('m', { shape: [2, 0], dtype: 'int32', chunks: [2, 3] })
    await m.append(new Int32Array([1, 2]), { axis: 1 })
    await m.append(new Int32Array([3, 4, 5, 6, 7, 8]), { axis: -1 })
    await m.append(new Int32Array([9, 9, 9, 9]))
    t.deepEqual(m.shape, [3, 4])
    const big = g.createDataset('big', { shape: [0], dtype: 'int64', chunks: [4] })
    async function* pieces() {
      for (let i = 0; i < 5; i++) yield BigInt64Array.from({ length: 3 }, (_, j) => BigInt(i * 3 + j) * 10_000_000_000n)
    }
    await big.append(pieces())
    const s = g.createDataset('s', { shape: [0], dtype: 'string', chunks: [4] })
    await s.append(['a', 'bé', 'c'])
    await s.append(range(9, (i) => i).map((i) => `str ${i} ${'x'.repeat(i)}`))
  }, { memoryBudget: 1500 })
  const v = vf.version('v1')
  t.deepEqual(values(await ds(v, 'x').read()), range(910))
  t.deepEqual(values(await ds(v, 'm').read()), [1, 3, 4, 5, 2, 6, 7, 8, 9, 9, 9, 9])
  t.deepEqual(values(await ds(v, 'big').read()), range(15, (i) => i).map((i) => BigInt(i) * 10_000_000_000n))
  t.deepEqual(await ds(v, 's').read(), ['a', 'bé', 'c', ...range(9).map((i) => `str ${i} ${'x'.repeat(i)}`)])
  t.true((await vf.verify()).ok)
  vf.close()
})

test('append to inherited datasets: the parent is unchanged, its partial last chunk grows, spilled chunks deduplicate', async (t) => {
  const p = tmpFile('inherit')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await ops.writeBase(vf)
  await ops.appendVersion(vf)
  const x1 = values(await ds(vf.version('a2'), 'x').read())
  const expected = [...x1, ...values(ops.piece(1000, 12 * 512))]
  t.deepEqual(values(await ds(vf.version('big'), 'x').read()), expected)
  t.deepEqual(values(await ds(vf.version('a1'), 'x').read()), range(1000))
  t.deepEqual(values(await ds(vf.version('big'), 'm').read()), [...range(120), ...range(48, () => 9)])
  t.deepEqual((await ds(vf.version('big'), 's').read() as string[]).slice(18), ['s18', 's19', ...range(30).map((i) => `appended ${i}`)])
  // The same stream appended again, over the parent: every full chunk deduplicates
  // against the slots written for 'big' (spilled or not), so raw_data does not grow.
  const rows = rawRows(p, 'x')
  await vf.stageVersion('again', async (g) => {
    const x = ds(g, 'x')
    for (let q = 0; q < 12; q++) await x.append(ops.piece(1000 + q * 512, 512))
    await x.write([[0, 10]], -1)
  }, { prevVersion: 'a2', memoryBudget: 4096 })
  vf.close()
  t.is(rawRows(p, 'x'), rows)
  const r = VersionedFile.open(p, { mode: 'r' })
  t.deepEqual(values(await ds(r.version('again'), 'x').read()), expected)
  t.true((await r.verify()).ok)
  r.close()
})

test('bad appends and budgets are refused with a code, and change nothing', async (t) => {
  const p = tmpFile('bad')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', async (g) => {
    const m = g.createDataset('m', { shape: [0, 3], dtype: 'float64', chunks: [4, 3] })
    await throwsCode(t, () => m.append(new Float64Array(4)), 'SHAPE_MISMATCH')
    await throwsCode(t, () => m.append(new Float64Array(3), { axis: 2 }), 'OUT_OF_BOUNDS')
    await throwsCode(t, () => m.append(['a', 'b', 'c']), 'DTYPE_MISMATCH')
    t.deepEqual(m.shape, [0, 3])
    await m.append(new Float64Array(6).fill(1))
  })
  await throwsCode(t, () => ds(vf.version('v1'), 'm').append(new Float64Array(3)), 'READ_ONLY')
  await throwsCode(t, () => vf.stageVersion('v2', () => {}, { memoryBudget: -1 }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.stageVersion('v2', () => {}, { memoryBudget: 1.5 }), 'INVALID_ARGUMENT')
  t.deepEqual(vf.versions, ['v1'])
  vf.close()
})

test('writes into a large sparse dataset past the budget: a spilled chunk written again is read back', async (t) => {
  const p = tmpFile('sparse')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const model = new Map<number, number>()
  const empty = readFileSync(p).length
  await vf.stageVersion('v1', (g) => {
    const s = g.createDataset('s', { shape: [1_000_000_000], dtype: 'float64', chunks: [1000], compression: 'lzf' })
    for (let c = 0; c < 40; c++) {
      s.write([[c * 7_000_000, c * 7_000_000 + 1000]], new Float64Array(1000).fill(c + 1))
      model.set(c * 7_000_000, c + 1)
    }
    // The first chunks went to the file (write() spills before it returns); write
    // into them again.
    t.true(readFileSync(p).length > empty)
    s.write([5], -5)
    s.write([7_000_005], -6)
    t.deepEqual(values(s.readSync([[0, 7]])), [1, 1, 1, 1, 1, -5, 1])
  }, { memoryBudget: 16_000 })
  const s = ds(vf.version('v1'), 's')
  t.deepEqual(values(await s.read([[0, 7]])), [1, 1, 1, 1, 1, -5, 1])
  t.deepEqual(values(await s.read([[7_000_004, 7_000_007]])), [2, -6, 2])
  for (const [at, val] of model) if (at > 7_000_000) t.is((await s.read([at + 999]) as Float64Array)[0], val)
  t.is((await s.read([999_999_999]) as Float64Array)[0], 0)
  t.true((await vf.verify()).ok)
  vf.close()
})

test('a builder that throws after chunks went to the file, and close() meanwhile: the file is byte for byte as before', async (t) => {
  const p = await baseFile('throw')
  const w = VersionedFile.open(p, { mode: 'a' })
  // Open for writing, libhdf5 marks the superblock (cleared at close): compare with that.
  const before = readFileSync(p)
  let spilled = false
  const err = await t.throwsAsync(ops.appendVersion(w, async (q) => {
    if (q === 6) {
      spilled = readFileSync(p).length > before.length || existsSync(`${p}.vh5-journal`)
      throw new Error('builder gave up')
    }
  }))
  t.is(err?.message, 'builder gave up')
  t.true(spilled, 'chunks were written ahead of the commit')
  t.true(readFileSync(p).equals(before))
  // The handle goes on: the same version commits whole.
  await ops.appendVersion(w)
  t.deepEqual(w.versions, ['a1', 'a2', 'big'])
  t.true((await w.verify()).ok)
  w.close()
  // close() while a version is past its budget abandons it, back to the exact bytes.
  copyFileSync(p, `${p}.2`)
  const before2 = readFileSync(`${p}.2`)
  const c = VersionedFile.open(`${p}.2`, { mode: 'a' })
  await t.throwsAsync(c.stageVersion('closed', async (g) => {
    for (let q = 0; q < 8; q++) await ds(g, 'x').append(ops.piece(0, 512))
    c.close()
  }, { memoryBudget: 8192 }))
  t.true(readFileSync(`${p}.2`).equals(before2))
  t.false(existsSync(`${p}.2.vh5-journal`))
})

test('SIGKILL while chunks go to the file: the next open rolls back to the exact bytes', async (t) => {
  const p = await baseFile('kill')
  const before = readFileSync(p)
  const child = spawn(process.execPath, [join(DIR, 'endless-writer.js'), p], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      if (String(d).includes('spilling')) setTimeout(resolve, 100)
    })
    child.on('exit', () => reject(new Error(`the writer ended early: ${err}`)))
  })
  const grown = readFileSync(p).length
  child.kill('SIGKILL')
  await new Promise((resolve) => child.on('exit', resolve))
  t.true(grown > before.length, 'chunks were in the file')
  const r = VersionedFile.open(p, { mode: 'r' })
  t.true(r.recovered)
  r.close()
  t.true(readFileSync(p).equals(before))
  t.false(existsSync(`${p}.vh5-journal`))
})

test('a spilling commit aborted just before each of its changes to the file: byte for byte as before, or the whole version', async (t) => {
  t.timeout(10 * 60_000)
  const base = await baseFile('sweep-base')
  const baseBytes = readFileSync(base)
  const after = await withVersion(base)
  let points = 0
  let finished = false
  for (let n = 1; n <= 2000 && !finished; n++) {
    const p = tmpFile('sweep')
    copyFileSync(base, p)
    const r = spawnSync(process.execPath, [join(__dirname, 'crash', 'fault-writer.js'), p, 'append'], { env: { ...process.env, VH5_FAULT_AT: String(n) }, encoding: 'utf8' })
    if (r.status === 0) {
      finished = true
      t.deepEqual(snapshot(p), after)
      break
    }
    if (r.signal !== 'SIGABRT') {
      t.fail(`point ${n}: the writer ended with ${r.status ?? r.signal}: ${r.stderr}`)
      break
    }
    points += 1
    const ro = VersionedFile.open(p, { mode: 'r' })
    ro.close()
    if (r.stdout.includes('committed\n')) {
      t.deepEqual(snapshot(p), after, `point ${n}: after the commit returned`)
    } else {
      t.true(readFileSync(p).equals(baseBytes), `point ${n}: the file is byte for byte as before`)
    }
    t.false(existsSync(`${p}.vh5-journal`), `point ${n}: recovery removes the journal`)
    if (n % 10 === 1) {
      // Writing goes on from there.
      const w = VersionedFile.open(p, { mode: 'a' })
      if (!w.versions.includes('big')) await ops.appendVersion(w)
      t.true(w.verifySync().ok, `point ${n}: verify() after the next commit`)
      w.close()
    }
  }
  t.true(finished, 'the sweep reached the end of the commit')
  t.true(points >= 20, `only ${points} points`)
  t.log(`${points} abort points`)
})

test('ENOSPC at changes while chunks go to the file and at the commit: NO_SPACE, the file as before, the same handle commits again', async (t) => {
  const base = await baseFile('io-base')
  const after = await withVersion(base)
  let failed = 0
  for (const n of [3, 5, 9, 16, 25, 40, 60, 85]) {
    const p = tmpFile('io')
    copyFileSync(base, p)
    const r = spawnSync(process.execPath, [join(DIR, 'io-writer.js'), p], { env: { ...process.env, VH5_FAULT_AT: String(n), VH5_FAULT_ERRNO: 'ENOSPC' }, encoding: 'utf8' })
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { committed?: boolean; failed?: { code: string; message: string }; same?: boolean; retried?: boolean; crashed?: unknown }
    t.falsy(out.crashed, `point ${n}: ${JSON.stringify(out.crashed)}`)
    if (out.failed) {
      failed += 1
      t.is(out.failed.code, 'NO_SPACE', `point ${n}: ${out.failed.message}`)
      t.true(out.same, `point ${n}: the file is as the open left it`)
      t.true(out.retried, `point ${n}`)
    }
    t.deepEqual(snapshot(p), after, `point ${n}: the version, committed whole`)
  }
  t.true(failed >= 6, `${failed} failures`)
})

test('pipeline(source, ds.writable()) appends typed arrays and Buffers of whole rows, with backpressure', async (t) => {
  const p = tmpFile('pipe')
  const vf = VersionedFile.open(p, { mode: 'w' })
  async function* rows() {
    for (let i = 0; i < 40; i++) {
      const block = new Float64Array(3 * 50).map((_, j) => i * 150 + j)
      // Every other piece as the bytes a byte stream would carry.
      yield i % 2 ? Buffer.from(block.buffer) : block
    }
  }
  await vf.stageVersion('v1', async (g) => {
    const m = g.createDataset('m', { shape: [0, 3], dtype: 'float64', chunks: [64, 3], compression: 'gzip' })
    await pipeline(Readable.from(rows()), m.writable())
    const s = g.createDataset('s', { shape: [0], dtype: 'string', chunks: [16] })
    await pipeline(Readable.from([['a', 'b'], ['c']], { objectMode: true }), s.writable())
  }, { memoryBudget: 4096 })
  t.deepEqual(values(await ds(vf.version('v1'), 'm').read()), range(6000))
  t.deepEqual(await ds(vf.version('v1'), 's').read(), ['a', 'b', 'c'])
  await throwsCode(t, () => vf.stageVersion('v2', async (g) => {
    await pipeline(Readable.from([Buffer.alloc(12)]), ds(g, 'm').writable())
  }), 'SHAPE_MISMATCH')
  t.deepEqual(vf.versions, ['v1'])
  vf.close()
})

test('512 MiB appended with a 16 MiB budget, then read back with readBlocks: peak RSS stays within budget + 256 MiB', async (t) => {
  t.timeout(5 * 60_000)
  const p = tmpFile('big')
  const r = spawnSync(process.execPath, [join(DIR, 'big.js'), p, '512'], { encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  const got = JSON.parse(r.stdout) as { base: number; ingest: number; read: number; rows: number; bad: number; shape: number[] }
  t.log(`peak RSS: ${got.base.toFixed(0)} MiB at start, ${got.ingest.toFixed(0)} MiB after the ingest, ${got.read.toFixed(0)} MiB after readBlocks`)
  t.deepEqual(got.shape, [64 << 20])
  t.is(got.rows, 64 << 20)
  t.is(got.bad, 0)
  t.true(got.ingest < 16 + 256, `ingest peak ${got.ingest} MiB`)
  t.true(got.read < 16 + 256, `read peak ${got.read} MiB`)
})

test('interop: Python versioned-hdf5 2.4 and 2.6 read appended versions exactly', async (t) => {
  const p = tmpFile('interop')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await ops.writeBase(vf)
  await ops.appendVersion(vf)
  await vf.stageVersion('cols', async (g) => {
    const m = g.createDataset('wide', { shape: [3, 0], dtype: 'int16', chunks: [2, 5], compression: 'lzf' })
    for (let i = 0; i < 6; i++) await m.append(new Int16Array(3 * 4).map((_, j) => i * 12 + j), { axis: 1 })
    // Strings alone past the budget: their chunks go to the file too.
    const v = g.createDataset('venue', { shape: [0], dtype: 'string', chunks: [4] })
    const len = readFileSync(p).length
    for (let i = 0; i < 10; i++) await v.append(range(6, (j) => i * 6 + j).map((k) => `venue ${k} ${'é'.repeat(k % 5)}`))
    t.true(readFileSync(p).length > len, 'string chunks went to the file')
  }, { memoryBudget: 64 })
  const expected: Record<string, Record<string, unknown[]>> = {}
  for (const name of vf.versions) {
    const v = vf.version(name)
    expected[name] = {}
    for (const d of v.datasets()) expected[name][d] = values(await ds(v, d).read())
  }
  vf.close()
  const code = `import json, sys, h5py
from versioned_hdf5 import VersionedHDF5File
f = h5py.File(sys.argv[1], 'r')
vf = VersionedHDF5File(f)
out = {}
for name in ${JSON.stringify(Object.keys(expected))}:
    v = vf[name]
    out[name] = {}
    for d in ${JSON.stringify(['x', 'm', 's', 'wide', 'venue'])}:
        if d in v:
            a = v[d][()]
            out[name][d] = [x.decode() if isinstance(x, bytes) else x for x in a.flatten().tolist()]
print(json.dumps(out))`
  for (const python of [VENV_PYTHON, VENV26_PYTHON]) {
    const got = vpyWith<Record<string, Record<string, unknown[]>>>(python, code, p)
    t.deepEqual(got, expected, python)
  }
  t.truthy(DUMP)
})

test('readBlocks and readBlocksSync on staged and committed datasets: blocks of the given rows, start and stop', async (t) => {
  const p = tmpFile('blocks')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const collect = async (d: Dataset, o?: object) => {
    const out: number[][] = []
    for await (const b of d.readBlocks(o)) out.push(values(b) as number[])
    return out
  }
  await vf.stageVersion('v1', async (g) => {
    const m = g.createDataset('m', { shape: [0, 2], dtype: 'int32', chunks: [3, 2] })
    await m.append(new Int32Array(20).map((_, i) => i))
    t.deepEqual(await collect(m, { rows: 4 }), [range(8), range(8, (i) => 8 + i), range(4, (i) => 16 + i)])
  })
  const m = ds(vf.version('v1'), 'm')
  t.deepEqual(await collect(m), [range(6), range(6, (i) => 6 + i), range(6, (i) => 12 + i), [18, 19]])
  t.deepEqual([...m.readBlocksSync({ rows: 4, start: 2, stop: 7 })].map((b) => values(b)), [range(8, (i) => 4 + i), [12, 13]])
  await throwsCode(t, () => collect(m, { rows: 0 }), 'INVALID_ARGUMENT')
  vf.close()
})

test('the README tick pattern: one version per 1,000 rows over four columns', async (t) => {
  const p = tmpFile('ticks')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const venues = ['XNYS', 'XNAS', 'BATS']
  async function* ticks() {
    for (let i = 0; i < 2500; i++) yield { time: 1_700_000_000_000_000n + BigInt(i) * 1000n, price: 100 + i / 100, size: i % 500, venue: venues[i % 3] }
  }
  await ingest(vf, ticks(), { rows: 1000, ms: 3_600_000 })
  t.deepEqual(vf.versions, ['ticks-1700000000000000', 'ticks-1700000001000000', 'ticks-1700000002000000'])
  const v = vf.version(vf.versions[2])
  t.deepEqual(ds(v, 'time').shape, [2500])
  t.deepEqual(values(await ds(v, 'size').read([[995, 1005]])), range(10, (i) => (995 + i) % 500))
  t.deepEqual((await ds(v, 'venue').read([[2497, 2500]])) as string[], ['XNAS', 'BATS', 'XNYS'])
  t.is((await ds(vf.version(vf.versions[0]), 'price').read()).length, 1000)
  t.is(vf.versionAt(1_700_000_001_500_000n).name, 'ticks-1700000000000000')
  vf.close()
})
