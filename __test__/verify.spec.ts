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

// Each kind of problem names the dataset, the slot (= hash-table row) and the version
// that refers to it. `sample` stores x (25 rows, chunks of 10) as slots 0, 1, 2 for v1
// and slot 3 for v2's changed first chunk; slots 1 and 2 are mapped first by v1.
async function damaged(tag: string, code: string) {
  const p = tmpFile(tag)
  await sample(p)
  py(`import h5py, sys, json, numpy as np
f = h5py.File(sys.argv[1], 'r+')
${code}
print(json.dumps(0))`, p)
  const vf = VersionedFile.open(p, { mode: 'r' })
  const rep = await vf.verify()
  vf.close()
  return rep
}

const where = (x: { version?: string; dataset?: string; slot?: number }) => [x.version, x.dataset, x.slot]

test('verify() locations: a changed chunk names the dataset, its slot and the version mapping it', async (t) => {
  const rep = await damaged('loc-hash', "f['_version_data/x/raw_data'][12] = -1.0")
  const p = rep.problems.find((x) => /does not match/.test(x.message))
  t.truthy(p, JSON.stringify(rep.problems))
  t.deepEqual(where(p!), ['v1', 'x', 1])
  t.regex(p!.location, /\/_version_data\/x slot at row 10 \(slot 1, hash-table row 1, mapped by v1:x chunk at \[10\]\)/)
})

test('verify() locations: a hash-table hole names the row, the dataset and the version mapping that slot', async (t) => {
  const rep = await damaged('loc-hole', "ht = f['_version_data/x/hash_table']\nht[2] = np.zeros((), dtype=ht.dtype)")
  const hole = rep.problems.find((x) => /hole/.test(x.message))
  t.truthy(hole, JSON.stringify(rep.problems))
  t.deepEqual(where(hole!), ['v1', 'x', 2])
  t.regex(hole!.location, /hash-table row 2 \(slot 2, mapped by v1:x chunk at \[20\]\)/)
  const slot = rep.problems.find((x) => /does not name this slot/.test(x.message))
  t.deepEqual(where(slot!), ['v1', 'x', 2])
})

test('verify() locations: a hash-table row of the wrong length names its slot and version', async (t) => {
  const rep = await damaged('loc-len', "ht = f['_version_data/x/hash_table']\na = ht[2:3]\na['shape'][0, 1] = 24\nht[2:3] = a")
  const p = rep.problems.find((x) => /hash-table row says 4 rows/.test(x.message))
  t.truthy(p, JSON.stringify(rep.problems))
  t.deepEqual(where(p!), ['v1', 'x', 2])
})

test('verify() locations: a mapping past largest_index or past raw_data names version, dataset and slot', async (t) => {
  const low = await damaged('loc-li', "f['_version_data/x/hash_table'].attrs['largest_index'] = 2")
  const p = low.problems.find((x) => /at or past largest_index 2/.test(x.message))
  t.truthy(p, JSON.stringify(low.problems))
  t.deepEqual(where(p!), ['v1', 'x', 2])
  t.regex(p!.location, /^v1:x chunk at \[20\] -> \/_version_data\/x slot 2 \(hash-table row 2\)$/)
  const cut = await damaged('loc-cut', "f['_version_data/x/raw_data'].resize((15,))")
  const q = cut.problems.find((x) => /past the end of raw_data/.test(x.message))
  t.truthy(q, JSON.stringify(cut.problems))
  t.deepEqual(where(q!), ['v1', 'x', 1])
})

test('verify() locations: version-level problems name the version and no dataset', async (t) => {
  const rep = await damaged('loc-ver', "del f['_version_data/versions/v1']")
  const prev = rep.problems.find((x) => /prev_version 'v1'/.test(x.message))
  t.truthy(prev, JSON.stringify(rep.problems))
  t.deepEqual(where(prev!), ['v2', undefined, undefined])
  const no = await damaged('loc-ts', "del f['_version_data/versions/v2'].attrs['timestamp']")
  const ts = no.problems.find((x) => /timestamp/.test(x.message))
  t.truthy(ts, JSON.stringify(no.problems))
  t.deepEqual(where(ts!), ['v2', undefined, undefined])
})
