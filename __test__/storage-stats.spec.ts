// vf.storageStats() (README "Storage statistics"): per dataset path the slots, stored
// chunks and bytes of its raw_data and the slots and bytes committed versions map,
// checked number for number against h5py (py/storage_stats.py: get_chunk_info and the
// virtual sources, no code of ours) and h5stat (metadata, raw data, unaccounted space) on files written here and by Python
// versioned-hdf5 2.4.0 and 2.6.0, before and after versions go; and the onProgress of
// verify() and deleteVersions(). About 10 s (most of it Python versioned-hdf5 writing).
import test from 'ava'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

import { type Progress, type StorageStats, VersionedFile } from '../index.js'
import { PYTHON, throwsCode, tmpFile, VENV26_PYTHON, VENV_PYTHON, py, vpyWith } from './helpers.js'

const ORACLE = join(__dirname, 'py', 'storage_stats.py')

/** What h5stat (libhdf5's own tool, Debian's build) sums up: metadata, raw data, unaccounted space. */
function h5stat(path: string): { metadataBytes: number; objectBytes: number; reclaimableBytes: number } {
  const out = execFileSync('h5stat', ['-S', path], { encoding: 'utf8', env: { ...process.env, HDF5_USE_FILE_LOCKING: 'FALSE' } })
  const num = (label: string) => {
    const m = new RegExp(`^\\s*${label}: (\\d+) bytes`, 'm').exec(out)
    if (!m) throw new Error(`h5stat printed no '${label}':\n${out}`)
    return Number(m[1])
  }
  const meta = num('File metadata')
  return { metadataBytes: meta, objectBytes: meta + num('Raw data'), reclaimableBytes: num('Unaccounted space') }
}

/** The expected storageStats: chunk figures from h5py, space figures from h5stat. */
const oracle = (path: string): StorageStats => {
  const o = vpyWith<StorageStats>(PYTHON, ORACLE, path)
  return { ...o, ...h5stat(path) }
}

/** A history written here: gzip 2-D, nested path, strings, a version that goes later. */
async function ours(): Promise<string> {
  const p = tmpFile('stats')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    g.createDataset('a', { data: new Float64Array(1000).map((_, i) => i), shape: [50, 20], chunks: [10, 10], compression: 'gzip', compressionLevel: 4 })
    g.createGroup('g').createDataset('n', { data: new Int32Array(64).map((_, i) => i), chunks: [16] })
    g.createDataset('s', { data: ['x', 'yy', 'zzz', 'w'], chunks: [2] })
  })
  await vf.stageVersion('v2', (g) => {
    g.dataset('a').write([[0, 10], [0, 10]], 7)
    g.dataset('g/n').write([[20, 21]], -1)
  })
  await vf.stageVersion('v3', (g) => g.dataset('s').write([0], 'changed'))
  vf.close()
  return p
}

test('storageStats equals what h5py finds in the chunk indexes, here and after deleteVersions', async (t) => {
  const p = await ours()
  const vf = VersionedFile.open(p, { mode: 'r+' })
  const s = await vf.storageStats()
  t.deepEqual(s, oracle(p))
  const by = Object.fromEntries(s.datasets.map((d) => [d.path, d]))
  t.deepEqual(Object.keys(by), ['a', 'g/n', 's'])
  // 10 distinct chunks, one more in v2.
  t.deepEqual([by.a.slots, by.a.storedChunks, by.a.liveSlots], [11, 11, 11])
  t.true(by.a.storedBytes < 11 * 800, 'gzip shrinks the chunks')
  t.deepEqual([by['g/n'].slots, by['g/n'].storedBytes, by['g/n'].liveBytes], [5, 320, 320])
  t.deepEqual([by.s.slots, by.s.heapStrings, by.a.heapStrings], [3, true, false])
  t.deepEqual(vf.storageStatsSync(), s)
  // { live: false }: the chunk indexes alone; what needs every chunk map and object is null.
  const nul = { liveBytes: null, metadataBytes: null, objectBytes: null, reclaimableBytes: null }
  t.deepEqual(await vf.storageStats({ live: false }), { ...s, ...nul, datasets: s.datasets.map((d) => ({ ...d, liveSlots: null, liveBytes: null })) })
  t.throws(() => vf.storageStatsSync({ live: 'no' } as never), { code: 'INVALID_ARGUMENT' } as never)
  // v3 holds v2's changes: deleting v1 and v2 frees the chunks only v1 and v2 mapped.
  await vf.deleteVersions(['v1', 'v2'])
  const after = await vf.storageStats()
  t.deepEqual(after, oracle(p))
  t.deepEqual(after.datasets.map((d) => [d.path, d.slots, d.liveSlots]), [['a', 10, 10], ['g/n', 4, 4], ['s', 2, 2]])
  t.true(after.reclaimableBytes! > s.reclaimableBytes!, 'the bytes v1 and v2 took are free space now')
  // compact() leaves about objectBytes (plus the strings' heap collection).
  const { bytesAfter } = await vf.compact()
  const kept = after.objectBytes!
  t.true(bytesAfter >= kept && bytesAfter - kept < 16 << 10, `${bytesAfter} vs ${kept}`)
  const compacted = await vf.storageStats()
  t.deepEqual(compacted, oracle(p))
  t.true(compacted.reclaimableBytes! < 16 << 10)
  vf.close()
  await throwsCode(t, () => vf.storageStats(), 'FILE_CLOSED')
  t.throws(() => vf.storageStatsSync(), { code: 'FILE_CLOSED' } as never)
})

for (const [label, python] of [['2.4.0', VENV_PYTHON], ['2.6.0', VENV26_PYTHON]] as const) {
  test(`storageStats of a file Python versioned-hdf5 ${label} wrote, with slots no version maps`, async (t) => {
    const p = tmpFile(`stats-py${label}`)
    vpyWith(python, join(__dirname, 'py', 'cli_history.py'), p)
    const vf = VersionedFile.open(p, { mode: 'r' })
    t.deepEqual(await vf.storageStats(), oracle(p))
    vf.close()
    // Without v3's group, the slot it wrote into grid's raw_data is mapped by nobody.
    py(`import h5py, sys, json
with h5py.File(sys.argv[1], 'r+') as f:
    del f['_version_data/versions/v3']
print(json.dumps(0))`, p)
    const ro = VersionedFile.open(p, { mode: 'r' })
    const s = await ro.storageStats()
    ro.close()
    t.deepEqual(s, oracle(p))
    const grid = s.datasets.find((d) => d.path === 'grid')!
    t.is(grid.liveSlots, grid.slots - 1)
    t.true(grid.liveBytes! < grid.storedBytes)
    t.is(s.storedBytes - s.liveBytes!, grid.storedBytes - grid.liveBytes!)
  })
}

test('verify and deleteVersions report progress on the event loop; bad onProgress is INVALID_ARGUMENT', async (t) => {
  const p = await ours()
  const vf = VersionedFile.open(p, { mode: 'r+' })
  const seen: Progress[] = []
  const rep = await vf.verify({ onProgress: (x) => seen.push(x) })
  t.true(rep.ok)
  // One step per version, then one per distinct chunk.
  const total = rep.versions + rep.chunks
  t.deepEqual(seen.at(-1), { done: total, total })
  t.deepEqual(seen.slice(0, rep.versions).map((x) => x.total), Array(rep.versions).fill(rep.versions))
  t.true(seen.every((x, i) => x.done === i + 1))
  const del: Progress[] = []
  await vf.deleteVersions(['v1'], { onProgress: (x) => del.push(x) })
  t.true(del.length > 2)
  t.is(del.at(-1)!.done, del.at(-1)!.total)
  t.true(del.every((x, i) => i === 0 || x.done > del[i - 1].done))
  t.deepEqual(vf.versions, ['v2', 'v3'])
  await throwsCode(t, () => vf.verify({ onProgress: 3 as never }), 'INVALID_ARGUMENT')
  await throwsCode(t, () => vf.deleteVersions('v2', 'x' as never), 'INVALID_ARGUMENT')
  t.deepEqual(vf.versions, ['v2', 'v3'], 'nothing deleted')
  t.true((await vf.verify(undefined)).ok)
  vf.close()
})

test('storageStats finds a data group inside another: a dataset a, later a group a holding a/b', async (t) => {
  const p = tmpFile('stats-nested')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => g.createDataset('a', { data: new Int32Array(8).map((_, i) => i), chunks: [4] }))
  await vf.stageVersion('v2', (g) => {
    g.delete('a')
    g.createGroup('a').createDataset('b', { data: new Int32Array(6).map((_, i) => -i), chunks: [3] })
  })
  const s = await vf.storageStats()
  vf.close()
  t.deepEqual(s, oracle(p))
  t.deepEqual(s.datasets.map((d) => [d.path, d.storedChunks, d.liveSlots]), [['a', 2, 2], ['a/b', 2, 2]])
})
