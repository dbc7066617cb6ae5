// verify(): a sound file passes, a damaged one is reported problem by problem.
import test from 'ava'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { VersionedFile } from '../index.js'
import { py, tmpFile } from './helpers.js'

async function sample(p: string) {
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    g.createDataset('x', { data: new Float64Array(25).map((_, i) => i), chunks: [10] })
    g.createDataset('s', { data: ['a', 'b', 'c'], chunks: [2], hash: 'sha256' })
  })
  await vf.stageVersion('v2', (g) => g.dataset('x').write([3], 100))
  vf.close()
}

test('verify() passes a sound file, also opened read-only, and counts what it checked', async (t) => {
  const p = tmpFile('verify')
  await sample(p)
  const vf = VersionedFile.open(p, { mode: 'r' })
  const rep = await vf.verify()
  t.true(rep.ok)
  t.deepEqual([rep.versions, rep.datasets, rep.chunks, rep.uncheckedChunks], [2, 4, 6, 0])
  t.deepEqual(rep.problems, [])
  t.deepEqual(vf.verifySync(), rep)
  vf.close()
})

test('verify() names a changed chunk, a missing parent and a truncated raw_data', async (t) => {
  const p = tmpFile('verify-bad')
  await sample(p)
  py(`import h5py, sys, json
f = h5py.File(sys.argv[1], 'r+')
f['_version_data/x/raw_data'][12] = -1.0
del f['_version_data/versions/v1']
print(json.dumps(0))`, p)
  const vf = VersionedFile.open(p, { mode: 'r' })
  const rep = await vf.verify()
  t.false(rep.ok)
  t.true(rep.problems.some((x) => x.location === 'v2' && /prev_version 'v1'/.test(x.message)), JSON.stringify(rep.problems))
  t.true(rep.problems.some((x) => /\/_version_data\/x slot at row 10/.test(x.location) && /does not match/.test(x.message)), JSON.stringify(rep.problems))
  vf.close()
  const q = tmpFile('verify-cut')
  await sample(q)
  py(`import h5py, sys, json
f = h5py.File(sys.argv[1], 'r+')
f['_version_data/x/raw_data'].resize((15,))
print(json.dumps(0))`, q)
  const cut = VersionedFile.open(q, { mode: 'r' })
  const r2 = await cut.verify()
  t.true(r2.problems.some((x) => /past the end of raw_data/.test(x.message)), JSON.stringify(r2.problems))
  cut.close()
})

test('verify() on the files Python wrote: every chunk reads; generation-1 string hashes are counted as unchecked', async (t) => {
  const src = join(__dirname, 'fixtures', 'versioned-hdf5-2.4', 'object_dtype_bad_hashtable_data2.h5')
  const p = tmpFile('verify-fixture')
  copyFileSync(src, p)
  const vf = VersionedFile.open(p, { mode: 'r' })
  const rep = await vf.verify()
  t.true(rep.ok, JSON.stringify(rep.problems))
  t.true(rep.chunks > 0)
  t.true(rep.uncheckedChunks > 0)
  t.true(rep.uncheckedChunks < rep.chunks) // the float dataset's hashes are checked
  vf.close()
})
