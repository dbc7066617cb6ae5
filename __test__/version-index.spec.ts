// The version index file `<file>.vh5-versions` (docs/design/013-deep-histories.md,
// part 2): a writer of this library keeps every committed version's name, parent and
// time there, stamped with what fstat says of the data file, so that the next open
// need not read every version group. It is trusted only for exactly the file it was
// written for; any other writer, a copy, or a damaged index makes the open read the
// groups, as without it. Costs about 3 s (a few Python and node processes).
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { closeSync, copyFileSync, existsSync, openSync, readFileSync, readSync, renameSync, writeFileSync, writeSync } from 'node:fs'

import { VersionedFile } from '../index.js'
import { PYTHON, tmpFile, VENV26_PYTHON, vpyWith } from './helpers.js'

const lib = require('../index.js') as { _openedFromIndexForTest: (f: VersionedFile) => boolean }
const INDEX = '.vh5-versions'

const T0 = Date.UTC(2030, 0, 1)

/** Versions v0..v{n-1} of one dataset, v{i} at T0 + i s; v3 branches from v1. */
async function history(p: string, n: number) {
  const vf = VersionedFile.open(p, { mode: 'w' })
  for (let i = 0; i < n; i++) {
    await vf.stageVersion(`v${i}`, (g) => {
      if (i === 0) g.createDataset('x', { shape: [8], dtype: 'int64', chunks: [4] })
      g.dataset('x').write([i % 8], BigInt(i + 1))
    }, { timestamp: new Date(T0 + i * 1000), prevVersion: i === 3 ? 'v1' : undefined })
  }
  vf.close()
}

/** Everything the version index answers, for comparing an indexed open with a scan. */
function view(vf: VersionedFile) {
  return {
    versions: vf.versions,
    current: vf.currentVersion,
    parents: vf.versions.map((v) => vf.version(v).prevVersion),
    times: vf.versions.map((v) => vf.version(v).timestamp.getTime()),
    at: [500, 2000, 3500].map((ms) => vf.versionAt(new Date(T0 + ms)).name),
  }
}

function openView(p: string, mode: 'r' | 'a' | 'r+') {
  const vf = VersionedFile.open(p, { mode })
  const out = { fromIndex: lib._openedFromIndexForTest(vf), ...view(vf) }
  vf.close()
  return out
}

/** The same view with the index file moved away (the open reads the groups). */
function scannedView(p: string) {
  renameSync(p + INDEX, `${p}${INDEX}.away`)
  const out = openView(p, 'r')
  renameSync(`${p}${INDEX}.away`, p + INDEX)
  return out
}

test('a writer keeps the index; opens in every mode take it and see what reading the groups sees', async (t) => {
  const p = tmpFile('vindex')
  await history(p, 6)
  t.true(existsSync(p + INDEX))
  const scanned = scannedView(p)
  t.false(scanned.fromIndex)
  t.deepEqual(scanned.versions, ['v0', 'v1', 'v2', 'v3', 'v4', 'v5'])
  t.is(scanned.parents[3], 'v1')
  for (const mode of ['r', 'a', 'r+'] as const) {
    t.deepEqual(openView(p, mode), { ...scanned, fromIndex: true }, `mode ${mode}`)
  }
  // A commit appends to it; the next open still takes it, with the new version.
  const vf = VersionedFile.open(p, { mode: 'a' })
  await vf.stageVersion('v6', (g) => g.dataset('x').write([0], 9n), { timestamp: new Date(T0 + 6000) })
  vf.setCurrentVersion('v2')
  vf.close()
  const after = openView(p, 'r')
  t.true(after.fromIndex)
  t.deepEqual(after, { ...scannedView(p), fromIndex: true })
  t.is(after.current, 'v2')
  t.deepEqual(after.versions.at(-1), 'v6')
})

test('another writer (Python versioned-hdf5, h5py), a copy or a damaged index: the open reads the groups', async (t) => {
  const p = tmpFile('vindex-other')
  await history(p, 4)
  t.true(openView(p, 'r').fromIndex)
  // Python 2.6 commits a version: the index does not know it.
  vpyWith(VENV26_PYTHON, `import sys, json, h5py, datetime
from versioned_hdf5 import VersionedHDF5File
with h5py.File(sys.argv[1], 'r+') as f:
    vf = VersionedHDF5File(f)
    with vf.stage_version('py', 'v3', timestamp=datetime.datetime(2030, 1, 1, 0, 0, 10, tzinfo=datetime.timezone.utc)) as g:
        g['x'][1] = 42
print(json.dumps(0))`, p)
  let seen = openView(p, 'r')
  t.false(seen.fromIndex)
  t.deepEqual(seen.versions, ['v0', 'v1', 'v2', 'v3', 'py'])
  // A writer here that only reads rewrites the index at its close.
  VersionedFile.open(p, { mode: 'a' }).close()
  seen = openView(p, 'r')
  t.true(seen.fromIndex)
  t.deepEqual(seen.versions, ['v0', 'v1', 'v2', 'v3', 'py'])
  // h5py changes an attribute.
  const r = spawnSync(PYTHON, ['-c', `import h5py, sys
with h5py.File(sys.argv[1], 'r+') as f:
    f['_version_data/versions/v1'].attrs['prev_version'] = 'v0'`, p], { encoding: 'utf8', env: { ...process.env, HDF5_USE_FILE_LOCKING: 'FALSE' } })
  t.is(r.status, 0, r.stderr)
  t.false(openView(p, 'r').fromIndex)
  VersionedFile.open(p, { mode: 'r+' }).close()
  t.true(openView(p, 'r').fromIndex)
  // A write in place that changes neither the length nor a byte still changes the
  // file's modification and change times.
  const fd = openSync(p, 'r+')
  const first = Buffer.alloc(1)
  readSync(fd, first, 0, 1, 0)
  writeSync(fd, first, 0, 1, 0)
  closeSync(fd)
  t.false(openView(p, 'r').fromIndex)
  VersionedFile.open(p, { mode: 'r+' }).close()
  t.true(openView(p, 'r').fromIndex)
  // A copy is another file, whose index (copied beside it or not) is not its own.
  const q = tmpFile('vindex-copy')
  copyFileSync(p, q)
  copyFileSync(p + INDEX, q + INDEX)
  seen = openView(q, 'r')
  t.false(seen.fromIndex)
  t.deepEqual(seen.versions, ['v0', 'v1', 'v2', 'v3', 'py'])
  // A damaged or truncated index is ignored, and the next writer writes it anew.
  const bytes = readFileSync(p + INDEX)
  for (const bad of [bytes.subarray(0, bytes.length - 3), Buffer.concat([bytes.subarray(0, 140), Buffer.from('x'), bytes.subarray(141)]), Buffer.alloc(0)]) {
    writeFileSync(p + INDEX, bad)
    seen = openView(p, 'r')
    t.false(seen.fromIndex)
    t.deepEqual(seen.versions, ['v0', 'v1', 'v2', 'v3', 'py'])
  }
  VersionedFile.open(p, { mode: 'a' }).close()
  t.true(openView(p, 'r').fromIndex)
})

test('a writer killed after its commits: the index has every returned commit', async (t) => {
  const p = tmpFile('vindex-kill')
  await history(p, 3)
  const script = `const { VersionedFile } = require(${JSON.stringify(require.resolve('../index.js'))})
;(async () => {
  const vf = VersionedFile.open(process.argv[1], { mode: 'a' })
  for (const n of ['k1', 'k2']) await vf.stageVersion(n, (g) => g.dataset('x').write([2], 7n))
  process.kill(process.pid, 'SIGKILL')
})()`
  const r = spawnSync(process.execPath, ['-e', script, p], { encoding: 'utf8' })
  t.is(r.signal, 'SIGKILL', r.stderr)
  const seen = openView(p, 'r')
  t.deepEqual([...seen.versions].sort(), ['k1', 'k2', 'v0', 'v1', 'v2'])
  t.true(seen.fromIndex, 'the last commit stamped the index')
  t.deepEqual(seen, { ...scannedView(p), fromIndex: true })
})

test('deleteVersions and compact keep the index right', async (t) => {
  const p = tmpFile('vindex-delete')
  await history(p, 6)
  const vf = VersionedFile.open(p, { mode: 'a' })
  await vf.deleteVersions(['v1', 'v4'])
  vf.close()
  let seen = openView(p, 'r')
  t.true(seen.fromIndex)
  t.deepEqual(seen, { ...scannedView(p), fromIndex: true })
  t.deepEqual(seen.versions, ['v0', 'v2', 'v3', 'v5'])
  t.is(seen.parents[2], 'v0', "v3's parent v1 is gone")
  const c = VersionedFile.open(p, { mode: 'a' })
  await c.compact()
  await c.stageVersion('v6', (g) => g.dataset('x').write([0], 5n), { timestamp: new Date(T0 + 6000) })
  c.close()
  seen = openView(p, 'r')
  t.true(seen.fromIndex)
  t.deepEqual(seen, { ...scannedView(p), fromIndex: true })
  t.deepEqual(seen.versions, ['v0', 'v2', 'v3', 'v5', 'v6'])
})
