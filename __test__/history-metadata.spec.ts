// vf.modifyMetadata(path, options) (README "Maintaining history"): Python
// versioned-hdf5's modify_metadata across every version, checked against Python
// 2.6.0's on copies of the same files (ours and Python's): h5py sees the same data,
// shape, dtype, chunks, fill value and attributes in every version and the same
// raw_data settings; Python 2.6.0 and 2.4.0 read every file it produces. Its atomicity
// is history-crash.spec.ts. About 8 s.
import test, { type ExecutionContext } from 'ava'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { VENV26_PYTHON, VENV_PYTHON, throwsCode, tmpFile, vpyWith } from './helpers.js'
import { snapshot } from './support/snapshot.js'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeHistory } = require('./crash/history-ops.js') as { writeHistory: (vf: VersionedFile) => Promise<void> }

const HISTORY = join(__dirname, 'py', 'history.py')

interface PyRead {
  versions: Record<string, { datasets: Record<string, { shape: number[]; data: unknown[] }> }>
}

type Options = Parameters<VersionedFile['modifyMetadata']>[1]

async function ours(): Promise<string> {
  const p = tmpFile('meta')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await writeHistory(vf)
  await vf.stageVersion('h6', (g) => {
    g.dataset('x').attrs.set('unit', 'm')
    g.dataset('m/grid').attrs.set('scale', [1, 2])
    g.createDataset('b', { data: ['ab', 'c', '', 'defgh', 'ab'], dtype: 'S5', chunks: [2], fillValue: 'ab' })
  })
  vf.close()
  return p
}

const arr = (x: unknown) => (Array.isArray(x) ? x : Array.from(x as ArrayLike<number | bigint>, (e) => (typeof e === 'bigint' ? Number(e) : e)))

test('modifyMetadata: errors, data and attributes kept, the new settings in every version, the file goes on', async (t) => {
  const p = await ours()
  const before = snapshot(p)
  const ro = VersionedFile.open(p, { mode: 'r' })
  await throwsCode(t, () => ro.modifyMetadata('x', { chunks: [10] }), 'READ_ONLY')
  ro.close()
  const vf = VersionedFile.open(p, { mode: 'r+' })
  await throwsCode(t, () => vf.modifyMetadata('nope', { chunks: [10] }), 'NOT_FOUND')
  await throwsCode(t, () => vf.modifyMetadata('m', { chunks: [10] }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('x', {}), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('x', { chunks: [128] }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('x', { chunks: [0] }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('x', { chunks: [4, 4] }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('x', { chunks: [1.5] }), 'INVALID_ARGUMENT')
  const cast = await throwsCode(t, () => vf.modifyMetadata('x', { dtype: 'int32' }), 'INVALID_ARGUMENT')
  t.regex(cast.message, /new dataset path/)
  await throwsCode(t, () => vf.modifyMetadata('m/grid', { dtype: 'int16' }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('m/grid', { dtype: 'uint64' }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('s', { dtype: 'float64' }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('m/grid', { compressionLevel: 5 }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('x', { compression: 'zstd' }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('s', { fillValue: 'z' }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('s', { fletcher32: true }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.modifyMetadata('x', { dtype: 'nope' }), 'UNSUPPORTED_DTYPE')
  vf.close()
  t.deepEqual(snapshot(p), before, 'a refused change changes nothing')
  const vf2 = VersionedFile.open(p, { mode: 'r+' })

  await vf2.modifyMetadata('x', { chunks: [50], compression: 'gzip', compressionLevel: 7, shuffle: true })
  await vf2.modifyMetadata('m/grid', { chunks: [3, 4], dtype: 'float64' })
  await vf2.modifyMetadata('s', { chunks: [3] })
  await vf2.modifyMetadata('b', { dtype: 'S8' })
  t.true((await vf2.verify()).ok)
  const x = vf2.version('h6').dataset('x')
  t.deepEqual([x.chunks, x.compression, x.compressionLevel, x.shuffle], [[50], 'gzip', 7, true])
  t.is(x.attrs.get('unit'), 'm', 'attributes are kept')
  t.deepEqual(arr(vf2.version('h6').dataset('m/grid').attrs.get('scale')), [1, 2])
  t.is(vf2.version('h1').dataset('m/grid').dtype, 'float64')
  t.deepEqual(vf2.version('h1').dataset('m/grid').chunks, [3, 4])
  t.is(vf2.version('h6').dataset('b').dtype, 'S8')
  vf2.close()
  type Snap = Record<string, { data: Record<string, { values: unknown[] }> }> & { versions: string[] }
  const after = snapshot(p) as Snap
  for (const v of (before as unknown as Snap).versions) {
    for (const [path, d] of Object.entries((before as unknown as Snap)[v].data)) {
      t.deepEqual(after[v].data[path].values, d.values, `${v}/${path}: the same values`)
    }
  }

  // A new fill value: elements equal to the old one take it, stored or not.
  const w = VersionedFile.open(p, { mode: 'r+' })
  await w.stageVersion('h7', (g) => {
    const m = g.dataset('m/grid')
    m.resize([24, 10])
    m.write([[0, 1], [0, 3]], 0)
  })
  await w.modifyMetadata('m/grid', { fillValue: -1 })
  const m = w.version('h7').dataset('m/grid')
  t.is(m.fillValue, -1)
  const got = arr(await m.read())
  t.deepEqual(got.slice(0, 4), [-1, -1, -1, 3], 'written zeros take the new fill value')
  t.deepEqual(got.slice(200), new Array(40).fill(-1), 'elements never written read as the new fill value')
  t.deepEqual(arr(await w.version('h1').dataset('m/grid').read()).slice(0, 3), [-1, 1, 2], 'in every version')
  // The file goes on taking versions over the new storage.
  await w.stageVersion('h8', (g) => g.dataset('x').write([[0, 3]], 42))
  t.deepEqual(arr(await w.version('h8').dataset('x').read()).slice(0, 4), [42, 42, 42, -1])
  t.true(w.verifySync().ok)
  w.close()
})

/** Ours on one copy, Python 2.6's modify_metadata on another, step by step: h5py sees the same. */
async function compareWithPython(t: ExecutionContext, file: string, steps: Array<[string, Options, Record<string, unknown>]>): Promise<void> {
  const a = tmpFile('ours')
  const b = tmpFile('theirs')
  copyFileSync(file, a)
  copyFileSync(file, b)
  const vf = VersionedFile.open(a, { mode: 'r+' })
  for (const [path, mine] of steps) await vf.modifyMetadata(path, mine)
  t.true(vf.verifySync().ok)
  vf.close()
  vpyWith(VENV26_PYTHON, HISTORY, 'modify', b, ...steps.flatMap(([path, , theirs]) => [path, JSON.stringify(theirs)]))
  const [ma, mb] = vpyWith<unknown[]>(VENV26_PYTHON, HISTORY, 'meta', a, b)
  t.deepEqual(ma, mb, 'h5py sees the same data, shape, dtype, chunks, fill value and attributes per version, and the same raw_data settings')
  // Python (2.6 and 2.4) reads ours as we do.
  const ov = VersionedFile.open(a, { mode: 'r' })
  for (const venv of [VENV26_PYTHON, VENV_PYTHON]) {
    const read = vpyWith<PyRead>(venv, HISTORY, 'read', a)
    t.deepEqual(Object.keys(read.versions), ov.versions.slice().sort())
    for (const [name, v] of Object.entries(read.versions)) {
      for (const [p, d] of Object.entries(v.datasets)) {
        t.deepEqual(arr(await ov.version(name).dataset(p).read()), d.data, `${venv} reads ${name}/${p} as we do`)
      }
    }
  }
  ov.close()
}

test("modifyMetadata matches Python 2.6's modify_metadata on a file we wrote", async (t) => {
  await compareWithPython(t, await ours(), [
    ['x', { chunks: [50], compression: 'lzf' }, { chunks: [50], compression: 'lzf', compression_opts: null }],
    ['x', { compression: 'none', shuffle: true, fletcher32: true }, { compression: null, shuffle: true, fletcher32: true }],
    ['m/grid', { dtype: 'float64', fillValue: 7 }, { dtype: 'float64', fillvalue: 7 }],
    ['m/grid', { chunks: [3, 4], fillValue: 160 }, { chunks: [3, 4], fillvalue: 160 }],
    ['s', { chunks: [5], compression: 'gzip' }, { chunks: [5], compression: 'gzip' }],
    ['b', { dtype: 'S8', chunks: [3] }, { dtype: 'S8', chunks: [3] }],
  ])
})

test("modifyMetadata matches Python 2.6's modify_metadata on a file Python wrote", async (t) => {
  const p = tmpFile('py-made')
  vpyWith(VENV26_PYTHON, HISTORY, 'make', p)
  await compareWithPython(t, p, [
    ['x', { chunks: [4], compression: 'gzip' }, { chunks: [4], compression: 'gzip' }],
    ['g/m', { dtype: 'int64', chunks: [5, 7] }, { dtype: 'int64', chunks: [5, 7] }],
    ['g/m', { fillValue: 0 }, { fillvalue: 0 }],
    ['s', { chunks: [3] }, { chunks: [3] }],
  ])
})
