// One workload run by this library, in a process of its own (so its peak memory is
// its own). Usage: node --import tsx bench/ours.mts '<spec json>'; prints one line
// `RESULT <json>`. The orchestrator is bench/run.mts.
import { copyFileSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'

import type { Dataset, VersionedFile as VF } from '../index.js'

const require = createRequire(import.meta.url)
// `_benchVdsFloor` exists only in builds with the `test-hooks` feature (npm test's;
// `VH5_FEATURES=test-hooks npm run build` for the bench).
const lib = require('../index.js') as typeof import('../index.js') & {
  _benchVdsFloor?(path: string, nChunks: number, chunkLen: number): number
}
const { VersionedFile } = lib

export interface Spec {
  workload: 'P1' | 'P2' | 'P3' | 'P4' | 'P5' | 'P5L' | 'P5Lmake' | 'P7' | 'P8' | 'P8diff' | 'P8meta' | 'P9' | 'P10' | 'P12' | 'P12make'
  /** P1 (and P11, which runs P1): `open`'s durability (default 'process'). */
  durability?: 'process' | 'fsync'
  variant: string
  file: string
  data?: string
  slices?: string
  versions?: number
  chunks?: number[]
  compression?: string | null
  nChunks?: number
  chunkLen?: number
  checkpoints?: number[]
  lookups?: number
  shape?: number[]
  plainFile?: string
  /** P12: the files of deep histories, by version count. */
  files?: Record<string, string>
  /** P8: versions kept, one in `keepEvery`. */
  keepEvery?: number
  /** P8diff: the two versions compared, and how many timed runs. */
  a?: string
  b?: string
  runs?: number
  /** P9: bytes to append, and bytes per piece. */
  bytes?: number
  pieceBytes?: number
  /** P10: rows per commit, commits. */
  rows?: number
  commits?: number
}

export interface Result {
  seconds: number
  commitsMs?: number[]
  initialMs?: number
  fileBytes?: number
  peakRss: number
  baseRss: number
  checksum?: number[]
  extra?: Record<string, unknown>
}

const now = () => performance.now()
const f64 = (path: string) => {
  const b = readFileSync(path)
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8)
}
const sum = (a: ArrayLike<number>) => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]
  return s
}
const filters = (c: string | null | undefined) => (c ? { compression: c } : {})

async function p1(s: Spec): Promise<Partial<Result>> {
  const d = f64(s.data!)
  const vf = VersionedFile.open(s.file, { mode: 'w', durability: s.durability ?? 'process' })
  const commits: number[] = []
  // Chunks of the version each commit wrote (P6 reports commit time per chunk too).
  const chunks: number[] = []
  const c0 = s.chunks?.[0] ?? 4096
  let len = 0
  let off = 0
  const t0 = now()
  for (let v = 0; off < d.length; v++) {
    const add = d[off]
    const nc = d[off + 1]
    const vals = d.subarray(off + 2, off + 2 + add)
    const idx = Array.from(d.subarray(off + 2 + add, off + 2 + add + nc))
    const cvals = d.subarray(off + 2 + add + nc, off + 2 + add + 2 * nc)
    off += 2 + add + 2 * nc
    const t = now()
    await vf.stageVersion(`v${v}`, (g) => {
      if (v === 0) {
        g.createDataset('x', { data: vals, chunks: s.chunks, ...filters(s.compression) })
        return
      }
      const x = g.dataset('x')
      const n = x.shape[0]
      x.resize([n + add])
      x.write([[n, n + add]], vals)
      x.write([{ indices: idx }], cvals)
    })
    commits.push(now() - t)
    len += add
    chunks.push(Math.ceil(len / c0))
  }
  const seconds = (now() - t0) / 1000
  const last = await vf.version(vf.currentVersion).dataset('x').read()
  vf.close()
  return { seconds, commitsMs: commits.slice(1), initialMs: commits[0], checksum: [sum(last)], extra: { chunks: chunks.slice(1) } }
}

async function p2(s: Spec): Promise<Partial<Result>> {
  const d = f64(s.data!)
  const vf = VersionedFile.open(s.file, { mode: 'w' })
  const commits: number[] = []
  let off = 0
  let rows = 0
  let cols = 0
  const t0 = now()
  for (let v = 0; off < d.length; v++) {
    const ar = d[off]
    const ac = d[off + 1]
    const newRows = d.subarray(off + 2, off + 2 + ar * (cols + ac))
    const newCols = d.subarray(off + 2 + ar * (cols + ac), off + 2 + ar * (cols + ac) + rows * ac)
    off += 2 + ar * (cols + ac) + rows * ac
    const [r0, c0] = [rows, cols]
    const t = now()
    await vf.stageVersion(`v${v}`, (g) => {
      const x: Dataset =
        v === 0
          ? g.createDataset('x', { shape: [0, 0], dtype: 'float64', chunks: s.chunks, ...filters(s.compression) })
          : g.dataset('x')
      x.resize([r0 + ar, c0 + ac])
      x.write([[r0, r0 + ar], [0, c0 + ac]], newRows)
      if (ac > 0 && r0 > 0) x.write([[0, r0], [c0, c0 + ac]], newCols)
    })
    commits.push(now() - t)
    rows += ar
    cols += ac
  }
  const seconds = (now() - t0) / 1000
  const last = await vf.version(vf.currentVersion).dataset('x').read()
  vf.close()
  return { seconds, commitsMs: commits.slice(1), initialMs: commits[0], checksum: [sum(last)] }
}

const p3Chunk = (k: number, n: number) => (k * 7919 + 13) % n
const p3Values = (k: number, len: number) => Float64Array.from({ length: len }, (_, j) => -(k + 1) - j / len)

async function p3(s: Spec): Promise<Partial<Result>> {
  const n = s.nChunks!
  const len = s.chunkLen!
  const base = new Float64Array(n * len)
  for (let i = 0; i < base.length; i++) base[i] = i + 0.5
  const vf = VersionedFile.open(s.file, { mode: 'w' })
  let t = now()
  await vf.stageVersion('v0', (g) => {
    g.createDataset('x', { data: base, chunks: [len] })
  })
  const initialMs = now() - t
  const commits: number[] = []
  const t0 = now()
  for (let k = 0; k < s.versions!; k++) {
    const c = p3Chunk(k, n)
    const vals = p3Values(k, len)
    t = now()
    await vf.stageVersion(`v${k + 1}`, (g) => {
      g.dataset('x').write([[c * len, (c + 1) * len]], vals)
    })
    commits.push(now() - t)
  }
  const seconds = (now() - t0) / 1000
  const last = await vf.version(vf.currentVersion).dataset('x').read()
  vf.close()
  // The peak of the commits, before the floor below (libhdf5's own path, about 1 GiB
  // at 40,000 mappings) raises the process's.
  const peakRss = process.resourceUsage().maxRSS * 1024
  const floors: number[] = []
  const floor = lib._benchVdsFloor
  if (floor) for (let i = 0; i < 3; i++) floors.push(floor(`${s.file}.floor.h5`, n, len) * 1000)
  floors.sort((a, b) => a - b)
  // null: the addon was built without the test-hooks feature, so there is no floor.
  const withFloorRss = process.resourceUsage().maxRSS * 1024
  return { seconds, commitsMs: commits, initialMs, checksum: [sum(last)], peakRss, extra: { floorMs: floor ? floors[1] : null, hdf5: lib.hdf5Version(), withFloorRss } }
}

async function p4(s: Spec): Promise<Partial<Result>> {
  const data = f64(s.data!)
  const baseRss = process.memoryUsage.rss()
  const vf = VersionedFile.open(s.file, { mode: 'w' })
  const t = now()
  await vf.stageVersion('v0', (g) => {
    g.createDataset('x', { data, chunks: s.chunks, ...filters(s.compression) })
  })
  vf.close()
  const seconds = (now() - t) / 1000
  return { seconds, baseRss, extra: { bytes: data.byteLength } }
}

async function p5(s: Spec): Promise<Partial<Result>> {
  const sl = f64(s.slices!)
  const vf = VersionedFile.open(s.file, { mode: 'r' })
  const names = vf.versions.filter((n) => n !== '__first_version__')
  const order = (n: string) => Number(n.slice(1))
  names.sort((a, b) => order(a) - order(b))
  const picks = { first: names[0], middle: names[Math.floor(names.length / 2)], latest: names[names.length - 1] }
  const median5 = async (f: () => unknown) => {
    const times: number[] = []
    for (let i = 0; i < 5; i++) {
      const t = now()
      await f()
      times.push(now() - t)
    }
    return times.sort((x, y) => x - y)[2]
  }
  const fullMs: Record<string, number> = {}
  // The same reads into one array kept across them (readInto), and what a fresh
  // Float64Array of the result's length costs here alone, every page touched (the
  // allocation read() cannot avoid).
  const fullIntoMs: Record<string, number> = {}
  const allocMs: Record<string, number> = {}
  const checksum: number[] = []
  for (const [label, name] of Object.entries(picks)) {
    const ds = vf.version(name).dataset('x')
    let a: ArrayLike<number> = []
    fullMs[label] = await median5(async () => {
      a = (await ds.read()) as Float64Array
    })
    checksum.push(sum(a))
    const into = new Float64Array(a.length)
    fullIntoMs[label] = await median5(() => ds.readInto(into))
    if (sum(into) !== sum(a)) throw new Error(`P5: readInto of ${name} differs from read`)
    allocMs[label] = await median5(() => {
      const x = new Float64Array(a.length)
      for (let i = 0; i < x.length; i += 512) x[i] = 1
    })
  }
  const ds = vf.version(picks.latest).dataset('x')
  let acc = 0
  let t = now()
  for (let i = 0; i < sl.length; i += 2) acc += (ds.readSync([[sl[i], sl[i + 1]]]) as Float64Array)[0]
  const slicesMs = now() - t
  checksum.push(acc)
  const out = new Float64Array(128)
  let accInto = 0
  t = now()
  for (let i = 0; i < sl.length; i += 2) {
    ds.readIntoSync(out, [[sl[i], sl[i + 1]]])
    accInto += out[0]
  }
  const slicesIntoMs = now() - t
  if (accInto !== acc) throw new Error('P5: readIntoSync slices differ from readSync')
  vf.close()
  return {
    seconds: (slicesMs + Object.values(fullMs).reduce((x, y) => x + y, 0)) / 1000,
    checksum,
    extra: { fullMs, slicesMs, slices: sl.length / 2, fullIntoMs, slicesIntoMs, allocMs },
  }
}

/** P5L's chunk changed by version k and its values (the same in bench.py). */
const p5lChunk = (k: number, n: number) => (k * 7919 + 13) % n

/** P5-large, setup: the dataset (element i of the flat array is i + 0.5) and 20 versions that each rewrite one chunk. */
async function p5lMake(s: Spec): Promise<Partial<Result>> {
  const shape = s.shape!
  const chunks = s.chunks!
  const total = shape.reduce((a, b) => a * b, 1)
  const base = new Float64Array(total)
  for (let i = 0; i < total; i++) base[i] = i + 0.5
  const vf = VersionedFile.open(s.file, { mode: 'w' })
  await vf.stageVersion('v0', (g) => {
    g.createDataset('x', { data: base, shape, chunks, ...filters(s.compression) })
  })
  const grid = shape.map((d, i) => Math.ceil(d / chunks[i]))
  const nChunks = grid.reduce((a, b) => a * b, 1)
  const clen = chunks.reduce((a, b) => a * b, 1)
  for (let k = 0; k < s.versions!; k++) {
    let c = p5lChunk(k, nChunks)
    const sel: [number, number][] = []
    for (let ax = shape.length - 1; ax >= 0; ax--) {
      const i = c % grid[ax]
      c = Math.floor(c / grid[ax])
      sel.unshift([i * chunks[ax], Math.min(shape[ax], (i + 1) * chunks[ax])])
    }
    const n = sel.reduce((a, [lo, hi]) => a * (hi - lo), 1)
    const vals = Float64Array.from({ length: n }, (_, j) => -(k + 1) - j / clen)
    await vf.stageVersion(`v${k + 1}`, (g) => {
      g.dataset('x').write(sel, vals)
    })
  }
  vf.close()
  return { seconds: 0 }
}

/** P5-large: reads of the latest version of the file p5lMake wrote. */
async function p5l(s: Spec): Promise<Partial<Result>> {
  const sl = f64(s.slices!)
  const median3 = async (f: () => Promise<unknown>) => {
    const times: number[] = []
    for (let i = 0; i < 3; i++) {
      const t = now()
      await f()
      times.push(now() - t)
    }
    return times.sort((x, y) => x - y)[1]
  }
  let t = now()
  const vf = VersionedFile.open(s.file, { mode: 'r' })
  const openMs = now() - t
  t = now()
  const ds = vf.version(vf.currentVersion).dataset('x')
  let a = (await ds.read()) as Float64Array
  const coldMs = now() - t
  const checksum = [sum(a)]
  const warmMs = await median3(async () => {
    a = (await ds.read()) as Float64Array
  })
  const bytes = a.byteLength
  a = new Float64Array(0)
  const twoD = s.shape!.length === 2
  let acc = 0
  t = now()
  for (let i = 0; i < sl.length; i += 3) {
    const sel: [number, number][] = twoD ? [[sl[i], sl[i] + 1], [sl[i + 1], sl[i + 2]]] : [[sl[i + 1], sl[i + 2]]]
    acc += (ds.readSync(sel) as Float64Array)[0]
  }
  const slicesMs = now() - t
  checksum.push(acc)
  const extra: Record<string, number> = { openMs, coldMs, warmMs, slicesMs, bytes }
  if (twoD) {
    const [rows, cols] = s.shape!
    const b = s.chunks!
    let blockSum = 0
    // Only the reads are timed, not the sums.
    const timed = async (sel: [number, number][]) => {
      const t1 = now()
      const blk = (await ds.read(sel)) as Float64Array
      const ms = now() - t1
      blockSum += sum(blk)
      return ms
    }
    extra.rowBlocksMs = 0
    for (let r = 0; r < rows; r += b[0]) extra.rowBlocksMs += await timed([[r, Math.min(rows, r + b[0])], [0, cols]])
    extra.colBlocksMs = 0
    for (let c = 0; c < cols; c += b[1]) extra.colBlocksMs += await timed([[0, rows], [c, Math.min(cols, c + b[1])]])
    checksum.push(blockSum)
  }
  vf.close()
  return { seconds: warmMs / 1000, checksum, extra }
}

/** P7's and P12's timestamps: version v committed at LOOKUP_BASE + v seconds (after the
 * file's creation: Python's non-exact lookup ignores versions older than __first_version__). */
const LOOKUP_BASE = Date.UTC(2030, 0, 1)

/** P7's and P12's histories: versions `from`..`to` of one small dataset, each changing one cell. */
async function commitSmallHistory(vf: VF, from: number, to: number) {
  for (let v = from; v < to; v++) {
    await vf.stageVersion(`v${v}`, (g) => {
      if (v === 0) g.createDataset('x', { shape: [16], dtype: 'int64', chunks: [16] })
      g.dataset('x').write([v % 16], BigInt(v))
    }, { timestamp: new Date(LOOKUP_BASE + v * 1000) })
  }
}

async function p7(s: Spec): Promise<Partial<Result>> {
  let vf: VF = VersionedFile.open(s.file, { mode: 'w' })
  const lookups: Record<string, { openMs: number; perSecond: number }> = {}
  const t0 = now()
  let v = 0
  for (const cp of s.checkpoints!) {
    await commitSmallHistory(vf, v, cp)
    v = cp
    vf.close()
    copyFileSync(s.file, `${s.file}.${cp}.h5`)
    let t = now()
    const ro = VersionedFile.open(`${s.file}.${cp}.h5`, { mode: 'r' })
    const openMs = now() - t
    const r = (await import('./data.mts')).rng(7)
    const n = s.lookups!
    let hits = 0
    t = now()
    for (let i = 0; i < n; i++) {
      const k = Math.floor(r() * cp)
      const exact = i % 2 === 0
      const when = new Date(LOOKUP_BASE + k * 1000 + (exact ? 0 : 500))
      if (ro.versionAt(when, { exact }).name === `v${k}`) hits++
    }
    const ms = now() - t
    ro.close()
    if (hits !== n) throw new Error(`P7: ${n - hits} of ${n} lookups found the wrong version`)
    lookups[String(cp)] = { openMs, perSecond: n / (ms / 1000) }
    vf = VersionedFile.open(s.file, { mode: 'a' })
  }
  vf.close()
  return { seconds: (now() - t0) / 1000, extra: { lookups } }
}

/** P12, setup: one small dataset changed by every version, copied at each checkpoint. */
async function p12Make(s: Spec): Promise<Partial<Result>> {
  let vf: VF = VersionedFile.open(s.file, { mode: 'w' })
  let v = 0
  for (const cp of s.checkpoints!) {
    await commitSmallHistory(vf, v, cp)
    v = cp
    vf.close()
    copyFileSync(s.file, s.files![String(cp)])
    vf = VersionedFile.open(s.file, { mode: 'a' })
  }
  vf.close()
  return { seconds: 0 }
}

/** P12: open, lookups by time and the first commit after an open, in deep histories. */
async function p12(s: Spec): Promise<Partial<Result>> {
  const out: Record<string, Record<string, number>> = {}
  for (const cp of s.checkpoints!) {
    const file = `${s.file}.${cp}.h5`
    copyFileSync(s.files![String(cp)], file)
    // The copy is a file no writer of this library has had open: its first writable
    // open reads every version group and writes the version index file (design 013),
    // as a service's first start on a file another writer left would. The opens below
    // are the service's restarts.
    let t = now()
    VersionedFile.open(file, { mode: 'a' }).close()
    const openScan = now() - t
    t = now()
    const ro = VersionedFile.open(file, { mode: 'r' })
    const openR = now() - t
    const r = (await import('./data.mts')).rng(10)
    const pick = () => Math.floor(r() * cp)
    t = now()
    let k = pick()
    if (ro.versionAt(new Date(LOOKUP_BASE + k * 1000)).name !== `v${k}`) throw new Error('P12: wrong version')
    const firstLookupMs = now() - t
    const n = 1000
    t = now()
    for (let i = 0; i < n; i++) {
      k = pick()
      const exact = i % 2 === 0
      if (ro.versionAt(new Date(LOOKUP_BASE + k * 1000 + (exact ? 0 : 500)), { exact }).name !== `v${k}`) throw new Error('P12: wrong version')
    }
    const lookupUs = ((now() - t) * 1000) / n
    ro.close()
    t = now()
    const vf = VersionedFile.open(file, { mode: 'a' })
    const openA = now() - t
    const commits: number[] = []
    for (let i = 0; i < 11; i++) {
      t = now()
      await vf.stageVersion(`w${i}`, (g) => {
        g.dataset('x').write([i % 16], BigInt(-i))
      }, { timestamp: new Date(LOOKUP_BASE + (cp + i) * 1000) })
      commits.push(now() - t)
    }
    vf.close()
    const steady = commits.slice(1).sort((a, b) => a - b)[5]
    out[String(cp)] = { openScan, openR, firstLookupMs, lookupUs, openA, firstCommitMs: commits[0], steadyCommitMs: steady }
    rmSync(file, { force: true })
    rmSync(`${file}.vh5-versions`, { force: true })
  }
  return { seconds: 0, extra: { p12: out } }
}

/** P8: delete all versions but one in `keepEvery` of a P1 file, then compact it. */
async function p8(s: Spec): Promise<Partial<Result>> {
  const bytesBefore = statSync(s.file).size
  const vf = VersionedFile.open(s.file, { mode: 'r+' })
  const names = vf.versions
  const doomed = names.filter((_, i) => i % s.keepEvery! !== s.keepEvery! - 1)
  let t = now()
  await vf.deleteVersions(doomed)
  const deleteS = (now() - t) / 1000
  const bytesAfterDelete = statSync(s.file).size
  t = now()
  const r = await vf.compact()
  const compactS = (now() - t) / 1000
  const latest = vf.versions.at(-1)!
  const data = (await vf.version(latest).dataset('x').read()) as Float64Array
  vf.close()
  return {
    seconds: deleteS + compactS,
    checksum: [sum(data)],
    extra: { deleted: doomed.length, kept: names.length - doomed.length, deleteS, compactS, bytesBefore, bytesAfterDelete, bytesAfterCompact: r.bytesAfter },
  }
}

/** P8meta: modifyMetadata rechunking P1's dataset to `chunks` in every version, then compact(). */
async function p8meta(s: Spec): Promise<Partial<Result>> {
  const bytesBefore = statSync(s.file).size
  const vf = VersionedFile.open(s.file, { mode: 'r+' })
  const versions = vf.versions.length
  const t = now()
  await vf.modifyMetadata('x', { chunks: s.chunks })
  const seconds = (now() - t) / 1000
  const bytesAfterModify = statSync(s.file).size
  // The freed old storage stays in the file until it is compacted.
  const c = now()
  const { bytesAfter } = await vf.compact()
  const compactS = (now() - c) / 1000
  const data = (await vf.version(vf.versions.at(-1)!).dataset('x').read()) as Float64Array
  vf.close()
  return { seconds, checksum: [sum(data)], extra: { versions, modifyS: seconds, bytesBefore, bytesAfterModify, compactS, bytesAfterCompact: bytesAfter, chunks: s.chunks } }
}

/** P8diff: diff of two versions of the P3 dataset (chunk maps decoded by the first call). */
async function p8diff(s: Spec): Promise<Partial<Result>> {
  const vf = VersionedFile.open(s.file, { mode: 'r' })
  let t = now()
  const first = await vf.diff(s.a!, s.b!)
  const firstMs = now() - t
  const ms: number[] = []
  for (let i = 0; i < s.runs!; i++) {
    t = now()
    await vf.diff(s.a!, s.b!)
    ms.push(now() - t)
  }
  vf.close()
  ms.sort((x, y) => x - y)
  const regions = first.reduce((n, d) => n + d.regions.length, 0)
  return { seconds: (firstMs + ms.reduce((a, b) => a + b, 0)) / 1000, checksum: [regions], extra: { firstMs, medianMs: ms[Math.floor((ms.length - 1) / 2)], regions } }
}

/** P9: one version appended from a stream of pieces (the P4 walk, cycled, shifted by
 * the cycle so that no chunk repeats), in the default memory budget. */
async function p9(s: Spec): Promise<Partial<Result>> {
  const base = f64(s.data!)
  const rows = s.pieceBytes! / 8
  const pieces = s.bytes! / s.pieceBytes!
  const perCycle = base.length / rows
  const piece = new Float64Array(rows)
  const vf = VersionedFile.open(s.file, { mode: 'w' })
  const t0 = now()
  await vf.stageVersion('v0', async (g) => {
    const x = g.createDataset('x', { shape: [0], dtype: 'float64', chunks: s.chunks, ...filters(s.compression) })
    for (let p = 0; p < pieces; p++) {
      const at = (p % perCycle) * rows
      const shift = Math.floor(p / perCycle)
      for (let i = 0; i < rows; i++) piece[i] = base[at + i] + shift
      await x.append(piece)
    }
  })
  const seconds = (now() - t0) / 1000
  let total = 0
  for await (const b of vf.version('v0').dataset('x').readBlocks({ rows: 1 << 20 })) total += sum(b as Float64Array)
  vf.close()
  return { seconds, checksum: [total], extra: { bytes: s.bytes } }
}

const VENUES = ['XNYS', 'XNAS', 'BATS', 'IEXG']

/** P10: ticks of four columns, `rows` per commit, appended in `commits` versions. */
async function p10(s: Spec): Promise<Partial<Result>> {
  const n = s.rows!
  const vf = VersionedFile.open(s.file, { mode: 'w' })
  const commits: number[] = []
  const time = new BigInt64Array(n)
  const price = new Float64Array(n)
  const size = new Int32Array(n)
  const venue: string[] = new Array(n)
  const t0 = now()
  for (let c = 0; c < s.commits!; c++) {
    for (let j = 0; j < n; j++) {
      const i = c * n + j
      time[j] = 1_700_000_000_000_000n + BigInt(i) * 1000n
      price[j] = 100 + (i % 9973) * 0.01
      size[j] = i % 500
      venue[j] = VENUES[i % 4]
    }
    const t = now()
    await vf.stageVersion(`c${c}`, async (g) => {
      const col = (name: string, dtype: string) =>
        (c === 0 ? g.createDataset(name, { shape: [0], dtype, chunks: s.chunks }) : g.dataset(name)) as Dataset
      await col('time', 'int64').append(time)
      await col('price', 'float64').append(price)
      await col('size', 'int32').append(size)
      await col('venue', 'string').append(venue)
    })
    commits.push(now() - t)
  }
  const seconds = (now() - t0) / 1000
  const v = vf.version(vf.currentVersion)
  const check = [sum((await v.dataset('price').read()) as Float64Array), sum((await v.dataset('size').read()) as Int32Array), v.dataset('venue').shape[0]]
  vf.close()
  return { seconds, commitsMs: commits, checksum: check, extra: { rows: n * s.commits! } }
}

async function main() {
  const spec = JSON.parse(process.argv[2]) as Spec
  const baseRss = process.memoryUsage.rss()
  const run = { P1: p1, P2: p2, P3: p3, P4: p4, P5: p5, P5L: p5l, P5Lmake: p5lMake, P7: p7, P8: p8, P8diff: p8diff, P8meta: p8meta, P9: p9, P10: p10, P12: p12, P12make: p12Make }[spec.workload]
  const r = await run(spec)
  const out: Result = {
    seconds: r.seconds!,
    baseRss,
    ...r,
    peakRss: r.peakRss ?? process.resourceUsage().maxRSS * 1024,
    fileBytes: ['P5', 'P5Lmake', 'P8diff', 'P12', 'P12make'].includes(spec.workload) ? undefined : statSync(spec.file).size,
  }
  console.log(`RESULT ${JSON.stringify(out)}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
