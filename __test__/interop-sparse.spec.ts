// Files whose raw_data is longer than largest_index slots, as Python versioned-hdf5 2.4
// writes them (it grows raw_data ahead; a sparse dataset shows it) and 2.6 may: new
// slots go at largest_index (2.6's rule), so no hash-table row is left without its
// slot, verify() stays clean, and both Python generations keep reading and extending
// the file. The Python half is __test__/py/sparse_extend.py, run with .venv (2.4.0) and
// .venv26 (2.6.0).
import test from 'ava'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { ds, ownListsFromTwoMappings, tmpFile, VENV26_PYTHON, VENV_PYTHON, vpyWith } from './helpers.js'

// Small datasets too take the path that encodes mapping lists here (design 033).
ownListsFromTwoMappings()

const SCRIPT = join(__dirname, 'py', 'sparse_extend.py')
const DUMP = join(__dirname, 'py', 'dump_versions.py')

interface Storage {
  raw_rows: number
  largest_index: number
}
interface PyRead {
  library: string
  versions: Record<string, { s: number[]; d: number[] }>
  storage: { s: Storage; d: Storage }
}

/** The expected contents of every version, built the way each writer changes them. */
function model(): Record<string, { s: number[]; d: number[] }> {
  const s1 = Array.from({ length: 100 }, () => 0)
  s1[5] = 7
  const d1 = Array.from({ length: 30 }, (_, i) => i)
  const s2 = [...s1]
  s2[15] = 9
  const d2 = [...d1]
  d2[12] = -1
  const s3 = [...s2]
  s3[25] = 3
  s3[45] = 4
  const d3 = [...d2]
  d3[0] = 50
  const s4 = [...s3]
  s4[95] = 11
  s4[5] = 8
  const d4 = [...d3]
  d4[29] = 100
  const s5 = [...s4]
  s5[55] = 5
  return { v1: { s: s1, d: d1 }, v2: { s: s2, d: d2 }, v3: { s: s3, d: d3 }, v4: { s: s4, d: d4 }, v5: { s: s5, d: d4 } }
}

async function commitOurs(path: string, name: string, writes: Array<[string, number, number]>): Promise<void> {
  const vf = VersionedFile.open(path, { mode: 'r+' })
  try {
    await vf.stageVersion(name, (g) => {
      for (const [p, i, v] of writes) ds(g, p).write([i], p === 's' ? new BigInt64Array([BigInt(v)]) : new Float64Array([v]))
    })
  } finally {
    vf.close()
  }
}

function verifyClean(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, path: string, step: string): void {
  const vf = VersionedFile.open(path, { mode: 'r' })
  try {
    const rep = vf.verifySync()
    t.deepEqual(rep.problems, [], `${step}: verify() problems`)
  } finally {
    vf.close()
  }
}

function readOurs(path: string): Record<string, { s: number[]; d: number[] }> {
  const vf = VersionedFile.open(path, { mode: 'r' })
  try {
    const out: Record<string, { s: number[]; d: number[] }> = {}
    for (const name of vf.versions) {
      const v = vf.version(name)
      out[name] = {
        s: Array.from(ds(v, 's').readSync<BigInt64Array>(), Number),
        d: Array.from(ds(v, 'd').readSync<Float64Array>()),
      }
    }
    return out
  } finally {
    vf.close()
  }
}

for (const [label, python, library] of [
  ['2.4', VENV_PYTHON, '2.4.0'],
  ['2.6', VENV26_PYTHON, '2.6.0'],
] as const) {
  test(`a file Python ${label} wrote with raw_data longer than largest_index: extended here and by Python, no holes`, async (t) => {
    const path = tmpFile(`sparse-${label}`)
    const made = vpyWith<{ library: string; storage: PyRead['storage'] }>(python, SCRIPT, 'make', path)
    t.is(made.library, library)
    if (label === '2.4') {
      // The case of the report: raw_data holds a slot past largest_index.
      t.true(made.storage.s.raw_rows > made.storage.s.largest_index * 10, JSON.stringify(made.storage))
    }
    const want = model()
    verifyClean(t, path, 'as Python wrote it')

    await commitOurs(path, 'v3', [
      ['s', 25, 3],
      ['s', 45, 4],
      ['d', 0, 50],
    ])
    verifyClean(t, path, 'after our commit')
    // The two new chunks of 's' took the two slots at largest_index (one a leftover row
    // range of raw_data): largest_index grew by two, raw_data only as far as needed.
    const after = vpyWith<PyRead>(python, SCRIPT, 'read', path)
    t.is(after.storage.s.largest_index, made.storage.s.largest_index + 2)
    t.is(after.storage.s.raw_rows, Math.max(made.storage.s.raw_rows, after.storage.s.largest_index * 10))
    t.is(after.storage.d.largest_index, made.storage.d.largest_index + 1)
    t.deepEqual(after.versions, { v1: want.v1, v2: want.v2, v3: want.v3 })
    // Plain h5py through the virtual datasets.
    const dump = vpyWith<{ versions: Record<string, { datasets: Record<string, { data: number[] }> }> }>(python, DUMP, path)
    t.deepEqual(dump.versions.v3.datasets.s.data, want.v3.s)
    t.deepEqual(dump.versions.v3.datasets.d.data, want.v3.d)

    const ext = vpyWith<PyRead>(python, SCRIPT, 'extend', path, 'v4')
    t.deepEqual(ext.versions, { v1: want.v1, v2: want.v2, v3: want.v3, v4: want.v4 })
    verifyClean(t, path, 'after Python extended our version')

    await commitOurs(path, 'v5', [['s', 55, 5]])
    verifyClean(t, path, 'after our second commit')
    t.deepEqual(readOurs(path), want)
    t.deepEqual(vpyWith<PyRead>(python, SCRIPT, 'read', path).versions, want)
  })
}
