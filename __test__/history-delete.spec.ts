// vf.deleteVersions(names) (README "Maintaining history"): Python versioned-hdf5's
// delete_versions semantics, checked against Python 2.6.0 on copies of the same files
// (ours and Python's): the same versions, parents, data and live slot count; Python
// (2.6.0 and 2.4.0) reads our result and we read Python's. Its atomicity is
// history-crash.spec.ts. About 4 s.
import test from 'ava'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { PYTHON, VENV26_PYTHON, VENV_PYTHON, throwsCode, tmpFile, vpyWith } from './helpers.js'
import { snapshot } from './support/snapshot.js'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeHistory } = require('./crash/history-ops.js') as { writeHistory: (vf: VersionedFile) => Promise<void> }

const lib = require('../index.js') as { _slotMoversForTest: () => number }

const HISTORY = join(__dirname, 'py', 'history.py')
const DUMP = join(__dirname, 'py', 'dump_versions.py')

interface PyRead {
  current: string
  versions: Record<string, { prev: string; datasets: Record<string, { shape: number[]; data: unknown[] }> }>
  storage: Record<string, { largest_index: number; raw_rows: number; live: number }>
}

async function ours(): Promise<string> {
  const p = tmpFile('hist')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await writeHistory(vf)
  vf.close()
  return p
}

/** Every raw_data element of the file, as h5py sees them (numbers only). */
function rawValues(path: string): Record<string, number[]> {
  return JSON.parse(
    require('node:child_process').execFileSync(PYTHON, ['-c', `import h5py, json, sys
out = {}
def visit(name, obj):
    if name.endswith('raw_data') and obj.dtype.kind in 'fiu':
        out[name] = [float(v) for v in obj[()].ravel()]
with h5py.File(sys.argv[1], 'r') as f:
    f['_version_data'].visititems(visit)
print(json.dumps(out))`, path], { encoding: 'utf8' }),
  ) as Record<string, number[]>
}

test('deleteVersions: errors, re-parenting, the current version, data kept, deleted data gone from raw_data', async (t) => {
  const p = await ours()
  const before = snapshot(p) as Record<string, unknown>
  const ro = VersionedFile.open(p, { mode: 'r' })
  await throwsCode(t, () => ro.deleteVersions('h2'), 'READ_ONLY')
  ro.close()
  const vf = VersionedFile.open(p, { mode: 'r+' })
  await throwsCode(t, () => vf.deleteVersions('__first_version__'), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.deleteVersions(['h1', 'nope']), 'VERSION_NOT_FOUND')
  await throwsCode(t, () => vf.deleteVersions(5 as unknown as string), 'INVALID_ARGUMENT')
  t.deepEqual(vf.versions, ['h1', 'h2', 'h3', 'h4', 'h5'], 'a refused deletion changes nothing')
  await vf.deleteVersions(['h2', 'h4'])
  t.deepEqual(vf.versions, ['h1', 'h3', 'h5'])
  t.is(vf.version('h3').prevVersion, 'h1')
  t.is(vf.version('h5').prevVersion, 'h3')
  t.is(vf.currentVersion, 'h5')
  t.true((await vf.verify()).ok)
  vf.close()
  const after = snapshot(p) as Record<string, unknown>
  for (const v of ['h1', 'h3', 'h5']) {
    const { prev: _a, ...was } = before[v] as Record<string, unknown>
    const { prev: _b, ...now } = after[v] as Record<string, unknown>
    t.deepEqual(now, was, `${v} reads as before`)
  }
  const raw = rawValues(p)
  t.deepEqual(Object.keys(raw).sort(), ['m/grid/raw_data', 'x/raw_data'], "the storage of 'tmp', only in h2, is gone")
  for (const [name, values] of Object.entries(raw)) {
    t.false(values.includes(777.25) || values.includes(2053029086), `no marker of a deleted version in ${name}`)
  }

  // The current version moves to its nearest surviving ancestor; deleting all leaves none.
  const w = VersionedFile.open(p, { mode: 'r+' })
  await w.deleteVersions('h5')
  t.is(w.currentVersion, 'h3')
  await w.deleteVersions(['h1', 'h3'])
  t.deepEqual(w.versions, [])
  t.is(w.currentVersion, '__first_version__')
  // The file goes on taking versions.
  await w.stageVersion('again', (g) => {
    g.createDataset('x', { data: new Float64Array([1, 2, 3]), chunks: [128] })
  })
  t.deepEqual(Array.from((await w.version('again').dataset('x').read()) as Float64Array), [1, 2, 3])
  t.true(w.verifySync().ok)
  w.close()
})

/** Ours on one copy, Python 2.6's delete_versions on another: the same result. */
async function compareWithPython(t: import('ava').ExecutionContext, file: string, names: string[]): Promise<void> {
  const a = tmpFile('ours')
  const b = tmpFile('theirs')
  copyFileSync(file, a)
  copyFileSync(file, b)
  const vf = VersionedFile.open(a, { mode: 'r+' })
  await vf.deleteVersions(names)
  t.true(vf.verifySync().ok)
  vf.close()
  vpyWith(VENV26_PYTHON, HISTORY, 'delete', b, names.join(','))
  // h5py alone: versions, parents, timestamps, data through the virtual datasets.
  const dumpA = vpyWith(PYTHON, DUMP, a)
  const dumpB = vpyWith(PYTHON, DUMP, b)
  t.deepEqual(dumpA, dumpB, 'h5py sees the same file')
  // Python reads ours (2.6 and 2.4), with the same live slots as its own result.
  const readA = vpyWith<PyRead>(VENV26_PYTHON, HISTORY, 'read', a)
  const readB = vpyWith<PyRead>(VENV26_PYTHON, HISTORY, 'read', b)
  t.deepEqual(readA, readB, 'versioned-hdf5 2.6 reads the same, storage included')
  t.deepEqual(vpyWith<PyRead>(VENV_PYTHON, HISTORY, 'read', a).versions, readB.versions, 'and 2.4 reads ours')
  for (const s of Object.values(readA.storage)) t.is(s.live, s.largest_index, 'every slot left is live')
  // We read Python's result.
  const ob = VersionedFile.open(b, { mode: 'r' })
  t.deepEqual(ob.versions.slice().sort(), Object.keys(readB.versions))
  t.is(ob.currentVersion, readB.current)
  for (const [name, v] of Object.entries(readB.versions)) {
    const ver = ob.version(name)
    t.is(ver.prevVersion, v.prev)
    for (const [path, d] of Object.entries(v.datasets)) {
      const got = await ver.dataset(path).read()
      t.deepEqual(Array.isArray(got) ? got : Array.from(got as ArrayLike<number>), d.data, `${name}/${path}`)
    }
  }
  t.true(ob.verifySync().ok, 'our verify() accepts what Python wrote')
  ob.close()
}

test("deleteVersions matches Python 2.6's delete_versions on a file we wrote", async (t) => {
  const movers = lib._slotMoversForTest()
  await compareWithPython(t, await ours(), ['h2', 'h4'])
  // m/grid (unfiltered, edge chunks) had its slots moved on a thread of their own.
  t.true(lib._slotMoversForTest() > movers, 'the slot moves ran on their own thread')
})

test("deleteVersions matches Python 2.6's delete_versions on a file Python wrote", async (t) => {
  const p = tmpFile('py-made')
  vpyWith(VENV26_PYTHON, HISTORY, 'make', p)
  await compareWithPython(t, p, ['p2', 'p3'])
})

test("we read what Python 2.6's modify_metadata produces (rechunked, recompressed, strings included), and delete from it", async (t) => {
  const p = tmpFile('py-modified')
  vpyWith(VENV26_PYTHON, HISTORY, 'make', p)
  vpyWith(VENV26_PYTHON, HISTORY, 'modify', p, 'x', JSON.stringify({ chunks: [4], compression: 'gzip' }))
  vpyWith(VENV26_PYTHON, HISTORY, 'modify', p, 's', JSON.stringify({ chunks: [3] }))
  const theirs = vpyWith<PyRead>(VENV26_PYTHON, HISTORY, 'read', p)
  const vf = VersionedFile.open(p, { mode: 'r+' })
  t.deepEqual(vf.version('p4').dataset('x').chunks, [4])
  for (const [name, v] of Object.entries(theirs.versions)) {
    for (const [path, d] of Object.entries(v.datasets)) {
      const got = await vf.version(name).dataset(path).read()
      t.deepEqual(Array.isArray(got) ? got : Array.from(got as ArrayLike<number>), d.data, `${name}/${path}`)
    }
  }
  await vf.deleteVersions('p3')
  t.true(vf.verifySync().ok)
  vf.close()
  const after = vpyWith<PyRead>(VENV26_PYTHON, HISTORY, 'read', p)
  const { p3: _gone, ...rest } = theirs.versions
  t.deepEqual(Object.keys(after.versions), Object.keys(rest))
  for (const [name, v] of Object.entries(rest)) t.deepEqual(after.versions[name].datasets, v.datasets, name)
})
