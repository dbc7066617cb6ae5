// The storage mark (docs/design/013-deep-histories.md): each commit records on the
// hash table the furthest raw_data rows any version maps, with the file's end of
// allocation, so that the first commit after an open need not read every version's
// mappings. It is trusted only while nothing else changed the file: after an outside
// edit (h5py) or a commit by Python, the scan runs and the commit behaves exactly as
// without the mark. Costs about 3 s (a few Python processes).
import test from 'ava'
import { copyFileSync } from 'node:fs'

import { VersionedFile } from '../index.js'
import { tmpFile, VENV26_PYTHON, vpy, vpyWith } from './helpers.js'
import { MAP_CHUNK_5_TO_ROW_500 } from './support/damage.js'

const lib = require('../index.js') as { _storageScansForTest: (f: VersionedFile) => number }

const X1 = Float64Array.from({ length: 100 }, (_, i) => i + 1)

/** v1: x = 1..100 (chunks [10]); v2: x[0:5] = 7. Slots 0..10: raw_data rows 0..110. */
async function sample(): Promise<string> {
  const p = tmpFile('mark')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: X1, chunks: [10] }))
  await vf.stageVersion('v2', (g) => g.dataset('x').write([[0, 5]], 7))
  vf.close()
  return p
}

/** h5py (the venv's) on `path`: `code` runs with `f` open in `mode`; returns `out`. */
function h5(path: string, mode: 'r' | 'r+', code: string): unknown {
  return vpy(`import h5py, sys, json\nimport numpy as np\nf = h5py.File(sys.argv[1], '${mode}')\nout = None\n${code}\nf.close()\nprint(json.dumps(out))`, path)
}

const MARK = `out = [int(v) for v in f['_version_data/x/hash_table'].attrs['storage_mark']] + [int(f.id.get_filesize())]`

/** Opens `p` for writing, tries one commit of ten new chunks on a branch from v1. */
async function tryCommit(p: string) {
  const vf = VersionedFile.open(p, { mode: 'a' })
  const data = Float64Array.from({ length: 100 }, (_, i) => -i - 1)
  const commit = await vf.stageVersion('w', (g) => g.dataset('x').write([[0, 100]], data), { prevVersion: 'v1' })
    .then(() => 'committed', (e: { code?: string }) => `error ${e.code}`)
  const scans = lib._storageScansForTest(vf)
  const v2 = await vf.version('v2').dataset('x').read([[50, 60]])
    .then(() => 'data', (e: { code?: string }) => `error ${e.code}`)
  vf.close()
  return { commit, scans, "v2's chunk [50:60]": v2 }
}

test('a commit leaves a storage mark; the next open trusts it (no scan), Python tolerates it', async (t) => {
  const p = await sample()
  const [start, end, rows, li, eoa, size] = h5(p, 'r', MARK) as number[]
  t.deepEqual({ start, end, rows, li, 'end of allocation is the file size': eoa === size }, { start: 100, end: 110, rows: 110, li: 11, 'end of allocation is the file size': true })
  t.deepEqual(await tryCommit(p), { commit: 'committed', scans: 0, "v2's chunk [50:60]": 'data' })
  // Python 2.6 reads and extends the file; its commit makes the mark stale: the next
  // commit here scans (once) and succeeds.
  const py = vpyWith<number[]>(VENV26_PYTHON, `import sys, json, h5py
from versioned_hdf5 import VersionedHDF5File
with h5py.File(sys.argv[1], 'r+') as f:
    vf = VersionedHDF5File(f)
    with vf.stage_version('p1', 'w') as g:
        g['x'][90:100] = 5
    out = vf['w']['x'][:3].tolist() + vf['p1']['x'][88:91].tolist()
print(json.dumps(out))`, p)
  t.deepEqual(py, [-1, -2, -3, -89, -90, 5])
  const vf = VersionedFile.open(p, { mode: 'a' })
  await vf.stageVersion('v4', (g) => g.dataset('x').write([[20, 30]], 3), { prevVersion: 'p1' })
  t.is(lib._storageScansForTest(vf), 1)
  const x = await vf.version('v4').dataset('x').read() as Float64Array
  t.deepEqual([x[0], x[25], x[95]], [-1, 3, 5])
  vf.close()
  // That commit wrote a fresh mark: trusted again.
  const again = VersionedFile.open(p, { mode: 'a' })
  await again.stageVersion('v5', (g) => g.dataset('x').write([[30, 40]], 4))
  t.is(lib._storageScansForTest(again), 0)
  again.close()
})

test('an outside edit after the last commit makes the mark stale: the scan runs, and the commit refuses exactly as without the mark', async (t) => {
  const p = await sample()
  const before = h5(p, 'r', MARK) as number[]
  h5(p, 'r+', MAP_CHUNK_5_TO_ROW_500)
  const after = h5(p, 'r', MARK) as number[]
  // The edit leaves the mark's rows, raw_data's extent and largest_index as they were:
  // only the end of allocation says the file changed.
  t.deepEqual(after.slice(0, 4), before.slice(0, 4))
  t.not(after[5], before[4])
  const bare = tmpFile('mark-bare')
  copyFileSync(p, bare)
  h5(bare, 'r+', `del f['_version_data/x/hash_table'].attrs['storage_mark']`)
  const withMark = await tryCommit(p)
  const withoutMark = await tryCommit(bare)
  t.deepEqual(withMark, withoutMark)
  t.deepEqual(withMark, { commit: 'error CORRUPT_FILE', scans: 1, "v2's chunk [50:60]": 'error CORRUPT_FILE' })
})
