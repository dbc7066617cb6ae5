// vf.compact({ onProgress }) (README "Maintaining history",
// docs/design/011-compaction.md): the file rewritten to the size of its live data;
// after deleteVersions + compact no byte of a deleted version is anywhere in the file
// (markers written only in deleted versions, looked for in the file's bytes); it
// works on files Python wrote and Python reads the result. The crash sweep over it
// is in history-crash.spec.ts. About 3 s.
import test from 'ava'
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { PYTHON, VENV26_PYTHON, VENV_PYTHON, throwsCode, tmpFile, vpyWith } from './helpers.js'
import { snapshot } from './support/snapshot.js'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeHistory } = require('./crash/history-ops.js') as { writeHistory: (vf: VersionedFile) => Promise<void> }

const HISTORY = join(__dirname, 'py', 'history.py')
const DUMP = join(__dirname, 'py', 'dump_versions.py')

function f64(v: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeDoubleLE(v)
  return b
}
function i32(v: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32LE(v)
  return b
}
/** Markers history-ops.js writes only in h2 and h4 (uncompressed datasets and strings). */
const MARKERS: Array<[string, Buffer]> = [
  ["tmp's 777.25", f64(777.25)],
  ["m/grid's 2053029086", i32(2053029086)],
  ["s's 'only-h2'", Buffer.from('only-h2')],
]

test('deleteVersions + compact: the file shrinks, reads the same, and no byte of the deleted versions is left in it', async (t) => {
  const p = tmpFile('compact')
  const vf0 = VersionedFile.open(p, { mode: 'w' })
  await writeHistory(vf0)
  vf0.close()
  const bytes = readFileSync(p)
  for (const [what, m] of MARKERS) t.true(bytes.includes(m), `the file holds ${what} before`)

  const kept = snapshot(p) as Record<string, Record<string, unknown>>
  const vf = VersionedFile.open(p, { mode: 'r+' })
  await vf.deleteVersions(['h2', 'h4'])
  const steps: Array<{ done: number; total: number }> = []
  const r = await vf.compact({ onProgress: (s) => steps.push(s) })
  t.is(r.bytesBefore, bytes.length)
  t.true(r.bytesAfter < r.bytesBefore, `${r.bytesAfter} < ${r.bytesBefore}`)
  t.is(r.bytesAfter, statSync(p).size)
  t.true(steps.length >= 3)
  t.deepEqual(steps[steps.length - 1].done, steps[steps.length - 1].total)
  t.true(steps.every((s, i) => i === 0 || s.done > steps[i - 1].done))
  // The same handle goes on: reads, commits, verify().
  t.deepEqual(vf.versions, ['h1', 'h3', 'h5'])
  await vf.stageVersion('h6', (g) => g.dataset('x').write([0], 42))
  t.is(((await vf.version('h6').dataset('x').read([[0, 1]])) as Float64Array)[0], 42)
  t.true((await vf.verify()).ok)
  vf.close()
  t.false(existsSync(`${p}.vh5-compact`))
  t.false(existsSync(`${p}.vh5-journal`))

  const after = readFileSync(p)
  for (const [what, m] of MARKERS) t.false(after.includes(m), `no ${what} left anywhere in the file`)
  const s = snapshot(p) as Record<string, Record<string, unknown>>
  for (const v of ['h1', 'h3', 'h5']) t.deepEqual({ ...s[v], prev: '' }, { ...kept[v], prev: '' }, `${v} reads as before`)
  // Python reads the result.
  const py = vpyWith<{ versions: Record<string, unknown> }>(VENV26_PYTHON, HISTORY, 'read', p)
  t.deepEqual(Object.keys(py.versions), ['h1', 'h3', 'h5', 'h6'])
  t.deepEqual(vpyWith<{ versions: Record<string, unknown> }>(VENV_PYTHON, HISTORY, 'read', p).versions, py.versions)
})

test('compact works on a file Python wrote (after its delete_versions) and Python reads and extends the result', async (t) => {
  const p = tmpFile('py-compact')
  vpyWith(VENV26_PYTHON, HISTORY, 'make', p)
  vpyWith(VENV26_PYTHON, HISTORY, 'delete', p, 'p3')
  const before = vpyWith(PYTHON, DUMP, p)
  const copy = tmpFile('py-compact-copy')
  copyFileSync(p, copy)
  const vf = VersionedFile.open(p, { mode: 'r+' })
  const r = await vf.compact()
  t.true(r.bytesAfter < r.bytesBefore)
  vf.close()
  t.deepEqual(vpyWith(PYTHON, DUMP, p), before, 'h5py sees the same versions, attributes and data')
  t.deepEqual(vpyWith(VENV26_PYTHON, HISTORY, 'read', p), vpyWith(VENV26_PYTHON, HISTORY, 'read', copy), 'versioned-hdf5 2.6 reads the same, storage included')
  // Python deletes from and reads the compacted file.
  vpyWith(VENV26_PYTHON, HISTORY, 'delete', p, 'p4')
  const again = VersionedFile.open(p, { mode: 'r' })
  t.deepEqual(again.versions.slice().sort(), ['p1', 'p2', 'p5'])
  t.true(again.verifySync().ok)
  again.close()
})

test('compact refuses a read-only file and a bad onProgress', async (t) => {
  const p = tmpFile('compact-ro')
  const w = VersionedFile.open(p, { mode: 'w' })
  await writeHistory(w)
  await throwsCode(t, () => w.compact({ onProgress: 5 as unknown as () => void }), 'INVALID_ARGUMENT')
  w.close()
  const ro = VersionedFile.open(p, { mode: 'r' })
  await throwsCode(t, () => ro.compact(), 'READ_ONLY')
  ro.close()
})
