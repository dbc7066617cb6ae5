// Leaks: many open/commit/close cycles and many reads leave no HDF5 object open and
// no memory behind. hdf5OpenObjects() counts every HDF5 object open in the process;
// rss is measured after a warm-up and at the end, each after a full GC.
//
// Serial: hdf5OpenObjects() and rss are process-wide.
import test from 'ava'
import { writeFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

import { hdf5OpenObjects, VersionedFile } from '../index.js'
import { py, tmpFile } from './helpers.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const MB = 1024 * 1024
const RSS_BOUND = 30 * MB

/** rss after two full GCs, with a pause for the allocator to hand memory back. */
async function settledRss(): Promise<number> {
  gc()
  await new Promise((r) => setTimeout(r, 50))
  gc()
  return process.memoryUsage().rss
}

const mb = (n: number) => `${(n / MB).toFixed(1)} MB`

test.serial('10,000 open/commit/close cycles: hdf5OpenObjects() is back to its baseline after every close, and rss does not grow', async (t) => {
  const N = 10_000
  const WARMUP = 1_000
  t.timeout(10 * 60_000)
  const baseline = hdf5OpenObjects()
  const files = [tmpFile('cycle'), tmpFile('cycle'), tmpFile('cycle'), tmpFile('cycle')]
  const uses = [0, 0, 0, 0]
  const junk = tmpFile('junk')
  writeFileSync(junk, Buffer.from('not HDF5 at all, just text'))
  const offBaseline: string[] = []
  const wrong: string[] = []
  const samples: string[] = []
  let rssWarm = 0
  let tWarm = 0
  const t0 = performance.now()
  for (let i = 0; i < N; i++) {
    const k = i % files.length
    // A fresh file every 25 uses (mode 'w'), otherwise append (mode 'a'): opens see
    // up to 25 versions, commits both create and rewrite datasets.
    const fresh = uses[k] % 25 === 0
    uses[k] += 1
    const vf = VersionedFile.open(files[k], { mode: fresh ? 'w' : 'a' })
    const name = `c${i}`
    await vf.stageVersion(name, (g) => {
      if (fresh) {
        g.createDataset('x', { data: Float64Array.from({ length: 64 }, (_, j) => j), chunks: [16] })
        g.createDataset('grp/s', { data: ['a', 'b', 'c', 'd'] as any, chunks: [2] })
        g.createDataset('grp/n', { data: new Int32Array([1, 2, 3]), chunks: [2] })
      } else {
        g.dataset('x').write([[16 * (i % 4), 16 * (i % 4) + 4]], new Float64Array([i, i + 1, i + 2, i + 3]))
        g.dataset('grp/s').write([i % 4], `s${i}`)
      }
      g.attrs.set('i', i)
      g.group('grp').attrs.set('last', i)
    })
    if (i % 10 === 0) {
      const x = (await vf.version(name).dataset('x').read([[16 * (i % 4), 16 * (i % 4) + 2]])) as Float64Array
      const expect = fresh ? [16 * (i % 4), 16 * (i % 4) + 1] : [i, i + 1]
      if (x[0] !== expect[0] || x[1] !== expect[1]) wrong.push(`cycle ${i}: read ${Array.from(x)} expected ${expect}`)
    }
    // Error paths, now and then: a builder that throws (nothing committed), a read out
    // of bounds, a refused open.
    if (i % 100 === 50) {
      await vf.stageVersion(`bad${i}`, (g) => {
        g.dataset('x').write([0], -1)
        throw new Error('builder fails')
      }).catch(() => undefined)
      await vf.version(name).dataset('x').read([1000]).catch(() => undefined)
      try {
        VersionedFile.open(junk, { mode: 'r' })
      } catch {
        // NOT_VERSIONED_FILE
      }
    }
    vf.close()
    const n = hdf5OpenObjects()
    if (n !== baseline && offBaseline.length < 10) offBaseline.push(`after cycle ${i}: ${n} open (baseline ${baseline})`)
    if (i + 1 === WARMUP) {
      rssWarm = await settledRss()
      tWarm = performance.now()
    }
    if ((i + 1) % 2000 === 0) samples.push(`${i + 1}: rss ${mb(process.memoryUsage().rss)}, ${((performance.now() - t0) / (i + 1)).toFixed(2)} ms/cycle`)
  }
  const total = performance.now() - t0
  const rssEnd = await settledRss()
  const perCycle = total / N
  t.log(`${N} cycles in ${(total / 1000).toFixed(1)} s (${perCycle.toFixed(2)} ms/cycle; after warm-up ${((performance.now() - tWarm) / (N - WARMUP)).toFixed(2)} ms/cycle)`)
  t.log(`rss after ${WARMUP} warm-up cycles ${mb(rssWarm)}, at the end ${mb(rssEnd)}: growth ${mb(rssEnd - rssWarm)} (bound ${mb(RSS_BOUND)})`)
  t.log(`samples: ${samples.join('; ')}`)
  t.log(`hdf5OpenObjects(): baseline ${baseline}, at the end ${hdf5OpenObjects()}`)
  t.deepEqual(wrong, [], 'every checked cycle read what it committed')
  t.deepEqual(offBaseline, [], 'hdf5OpenObjects() is back to the baseline after every close')
  t.true(rssEnd - rssWarm < RSS_BOUND, `rss grew by ${mb(rssEnd - rssWarm)} over ${N - WARMUP} cycles`)
  // The files are sound after all that.
  for (const f of files) {
    const vf = VersionedFile.open(f, { mode: 'r' })
    const rep = await vf.verify()
    t.true(rep.ok, JSON.stringify(rep.problems))
    vf.close()
  }
  t.is(hdf5OpenObjects(), baseline)
})

test.serial('10,000 read() calls on one open file leave hdf5OpenObjects() flat, and rss does not grow', async (t) => {
  t.timeout(5 * 60_000)
  const before = hdf5OpenObjects()
  const p = tmpFile('reads')
  const vf = VersionedFile.open(p, { mode: 'w' })
  const grid = Float64Array.from({ length: 64 * 48 }, (_, i) => i)
  const ids = BigInt64Array.from({ length: 1000 }, (_, i) => BigInt(i) * 7n)
  const names = Array.from({ length: 100 }, (_, i) => `name-${i}`)
  await vf.stageVersion('v0', (g) => {
    g.createDataset('grid', { data: grid, shape: [64, 48], chunks: [16, 12] })
    g.createDataset('ids', { data: ids, chunks: [64] })
    g.createDataset('names', { data: names as any, chunks: [16] })
  })
  await vf.stageVersion('v1', (g) => {
    g.dataset('grid').write([[0, 16], [0, 12]], -1)
    g.dataset('ids').write([[0, 64]], 5n)
    g.dataset('names').write([[0, 16]], 'changed')
  })
  await vf.stageVersion('v2', (g) => void g.dataset('grid').resize([80, 48]))
  const reads: Array<() => Promise<unknown>> = [
    () => vf.version('v0').dataset('grid').read(),
    () => vf.version('v1').dataset('grid').read([[3, 40, 2], [5, 30]]),
    () => vf.version('v2').dataset('grid').read([[60, 80], { indices: [47, 0, 13] }]),
    () => vf.version('v0').dataset('ids').read([[100, 900, 3]]),
    () => vf.version('v1').dataset('ids').read(),
    () => vf.version('v1').dataset('names').read([[10, 40]]),
    () => vf.version('v2').dataset('names').read(),
  ]
  // Warm-up: every kind of read once, so caches are filled before the baseline.
  for (const r of reads) await r()
  const open = hdf5OpenObjects()
  const rssWarm = await settledRss()
  const drift: string[] = []
  const wrong: string[] = []
  const N = 10_000
  const BATCH = 100
  const t0 = performance.now()
  for (let b = 0; b < N / BATCH; b++) {
    const batch: Array<Promise<unknown>> = []
    for (let j = 0; j < BATCH; j++) batch.push(reads[(b * BATCH + j) % reads.length]())
    const out = await Promise.all(batch)
    // spot checks
    const g0 = out[0] as Float64Array // reads[(b*100) % 7]
    const which = (b * BATCH) % reads.length
    if (which === 0 && (g0.length !== grid.length || g0[100] !== 100)) wrong.push(`batch ${b}: v0 grid`)
    if (which === 4 && ((g0 as unknown as BigInt64Array)[0] !== 5n || (g0 as unknown as BigInt64Array)[999] !== 6993n)) wrong.push(`batch ${b}: v1 ids`)
    const n = hdf5OpenObjects()
    if (n !== open && drift.length < 10) drift.push(`after ${(b + 1) * BATCH} reads: ${n} open (${open} after warm-up)`)
    if (b % 10 === 9) {
      // and some readSync in between
      const s = vf.version('v1').dataset('grid').readSync([0, [0, 3]]) as Float64Array
      if (s[0] !== -1 || s[2] !== -1) wrong.push(`batch ${b}: readSync`)
    }
  }
  const ms = performance.now() - t0
  const rssEnd = await settledRss()
  t.log(`${N} reads in ${(ms / 1000).toFixed(1)} s; hdf5OpenObjects() with the file open: ${open} after warm-up, ${hdf5OpenObjects()} at the end`)
  t.log(`rss after warm-up ${mb(rssWarm)}, at the end ${mb(rssEnd)}: growth ${mb(rssEnd - rssWarm)}`)
  t.deepEqual(wrong, [])
  t.deepEqual(drift, [], 'hdf5OpenObjects() stays flat')
  t.true(rssEnd - rssWarm < RSS_BOUND, `rss grew by ${mb(rssEnd - rssWarm)} over ${N} reads`)
  vf.close()
  t.is(hdf5OpenObjects(), before, 'closing the file closes everything the reads opened')
})

test.serial('error paths leave nothing open: 1,000 each of refused opens, failed reads and abandoned stages; 300 verify() calls', async (t) => {
  t.timeout(5 * 60_000)
  const before = hdf5OpenObjects()
  const junk = tmpFile('junk')
  writeFileSync(junk, Buffer.from('just text'))
  const plain = tmpFile('plain')
  py(`import h5py, sys; f = h5py.File(sys.argv[1], 'w'); f['d'] = [1, 2, 3]; print(1)`, plain)
  const dv5 = tmpFile('dv5')
  VersionedFile.open(dv5, { mode: 'w' }).close()
  py(`import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f['_version_data/versions'].attrs['data_version'] = 5; print(1)`, dv5)
  const missing = tmpFile('missing')
  const codes = new Map<string, number>()
  const count = (e: any) => codes.set(e?.code, (codes.get(e?.code) ?? 0) + 1)
  for (let i = 0; i < 250; i++) {
    for (const [p, mode] of [[junk, 'a'], [plain, 'r'], [dv5, 'a'], [missing, 'r']] as const) {
      try {
        VersionedFile.open(p, { mode }).close()
        count({ code: 'opened' })
      } catch (e) {
        count(e)
      }
    }
  }
  t.is(hdf5OpenObjects(), before, 'refused opens leave nothing open')

  const p = tmpFile('errors')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: new Float64Array(100), chunks: [10] }))
  const open = hdf5OpenObjects()
  for (let i = 0; i < 250; i++) {
    await vf.version('v1').dataset('x').read([200]).catch(count)
    await vf.version('v1').dataset('x').read([[0, 10, 0]]).catch(count)
    await Promise.resolve().then(() => vf.version('v1').dataset('nope')).catch(count)
    await Promise.resolve().then(() => vf.version('v1').dataset('x').readSync([-101])).catch(count)
  }
  for (let i = 0; i < 1000; i++) {
    await vf.stageVersion(`s${i}`, (g) => {
      g.dataset('x').write([[0, 10]], i)
      g.createDataset(`new${i}`, { data: new Int32Array(5), chunks: [5] })
      if (i % 2) throw new Error('abandon')
      return Promise.reject(new Error('abandon, async'))
    }).catch(count)
  }
  t.deepEqual(vf.versions, ['v1'], 'no abandoned stage committed anything')
  for (let i = 0; i < 300; i++) {
    const rep = i % 2 ? vf.verifySync() : await vf.verify()
    if (!rep.ok) t.fail(JSON.stringify(rep.problems))
  }
  t.is(hdf5OpenObjects(), open, 'failed reads, abandoned stages and verify() leave nothing open')
  vf.close()
  t.is(hdf5OpenObjects(), before)
  t.log(`outcomes: ${JSON.stringify(Object.fromEntries(codes))}`)
  t.deepEqual(Object.fromEntries(codes), {
    NOT_VERSIONED_FILE: 500,
    UNSUPPORTED_FORMAT: 250,
    FILE_NOT_FOUND: 250,
    OUT_OF_BOUNDS: 500,
    INVALID_ARGUMENT: 250,
    NOT_FOUND: 250,
    undefined: 1000, // the builders' own errors, rethrown
  })
})
