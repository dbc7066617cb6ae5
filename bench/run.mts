// Benchmark harness: each workload of bench/README.md run by this library, by Python
// versioned-hdf5 and by plain h5py, side by side, each in a process of its own.
//   npm run bench                      the standard sizes (about 15 minutes)
//   npm run bench -- --quick           small sizes, under 3 minutes
//   npm run bench -- --full            P1 with 5,000 versions for every library
//   npm run bench -- --only P1,P3      some workloads
//   npm run bench -- --readme          also put the table into README.md
//   npm run bench -- --py24            also run Python versioned-hdf5 2.4 (.venv)
// Prints one table; writes bench/results/<mode>.json and bench/results/<mode>.md.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { p1Length, writeP1, writeP2, writeP4, writeP5, writeP5LSlices } from './data.mts'
import type { Result, Spec } from './ours.mts'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    only: { type: 'string' },
    readme: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    py24: { type: 'boolean', default: false },
  },
})
const mode = args.quick ? 'quick' : args.full ? 'full' : 'standard'
const only = args.only ? new Set(args.only.split(',').map((s) => s.trim().toUpperCase())) : null
const want = (w: string) => !only || only.has(w)

// p5l: [chunks of the 1-D dataset, side of the 2-D one]; 0 skips P5L.
const SIZES = {
  quick: { p12: [] as number[], p5l: [0, 0], p1: 200, p2: 100, p3: [10_000, 5], p4: 128 << 20, p6: 1000, p7: [200, 2000], lookups: 20_000, pyLookups: 20, p9: 256 << 20, p10: 100, r: [300, 2000] },
  standard: { p12: [1000, 10_000, 100_000], p5l: [40_000, 4096], p1: 1000, p2: 500, p3: [40_000, 20], p4: 1 << 30, p6: 5000, p7: [1000, 10_000], lookups: 100_000, pyLookups: 20, p9: 4 * 2 ** 30, p10: 1000, r: [1000, 10_000] },
  full: { p12: [1000, 10_000, 100_000], p5l: [40_000, 4096], p1: 5000, p2: 500, p3: [40_000, 20], p4: 1 << 30, p6: 5000, p7: [1000, 10_000], lookups: 100_000, pyLookups: 20, p9: 4 * 2 ** 30, p10: 1000, r: [1000, 10_000] },
}[mode]
// P9's size, in MiB, for a run of its own (the goal is stated for 4 GiB).
if (process.env.VH5_BENCH_P9_MIB) SIZES.p9 = Number(process.env.VH5_BENCH_P9_MIB) * 2 ** 20

// The anchor is the newest Python versioned-hdf5 (2.6, .venv26); 2.4 (.venv) on request.
const py = join(root, '.venv26/bin/python')
const py24 = join(root, '.venv/bin/python')
for (const p of args.py24 ? [py, py24] : [py]) {
  if (!existsSync(p)) {
    console.error(`bench: ${p} is missing: run \`bash scripts/setup.sh --test\` first (it installs Python versioned-hdf5 2.6 and 2.4)`)
    process.exit(2)
  }
}
if (!existsSync(join(root, 'versioned-hdf5.linux-x64-gnu.node'))) {
  console.error('bench: the addon is not built: run `npm run build` first')
  process.exit(2)
}

type Impl = 'node' | 'python' | 'python24' | 'plain'
interface Row {
  workload: string
  variant: string
  impl: Impl
  result: Result
}
const rows: Row[] = []
// Readers beside a writer (bench/readers.mts): notes only, this library alone.
let readers: Record<string, any> | null = null
const work = mkdtempSync(join(os.tmpdir(), 'vh5-bench-'))

function run(impl: Impl, spec: Spec & Record<string, unknown>): Result {
  const cmd =
    impl === 'node'
      ? [process.execPath, ['--import=tsx', join(root, 'bench/ours.mts'), JSON.stringify(spec)]]
      : [impl === 'python24' ? py24 : py, [join(root, 'bench/py/bench.py'), impl === 'plain' ? 'plain' : 'vh5', JSON.stringify(spec)]]
  const p = spawnSync(cmd[0] as string, cmd[1] as string[], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 })
  const line = p.stdout.split('\n').find((l) => l.startsWith('RESULT '))
  if (p.status !== 0 || !line) {
    throw new Error(`bench: ${impl} ${spec.workload} ${spec.variant} failed (exit ${p.status}):\n${p.stderr.slice(-4000)}`)
  }
  return JSON.parse(line.slice(7)) as Result
}

function record(workload: string, variant: string, impl: Impl, spec: Spec & Record<string, unknown>): Result {
  process.stdout.write(`  ${workload} ${variant.padEnd(10)} ${impl.padEnd(7)} `)
  return report(workload, variant, impl, run(impl, spec))
}

/** Adds a result to the table and ends its progress line. */
function report(workload: string, variant: string, impl: Impl, result: Result, how = ''): Result {
  rows.push({ workload, variant, impl, result })
  console.log(`${result.seconds.toFixed(2)} s${how}`)
  return result
}

const IMPLS: Impl[] = args.py24 ? ['node', 'python', 'python24', 'plain'] : ['node', 'python', 'plain']
const PYS: Impl[] = args.py24 ? ['python', 'python24'] : ['python']
const fileOf = (w: string, v: string, impl: Impl) => join(work, `${w}-${v}-${impl}.h5`)

function checkSame(w: string, v: string, results: Result[]) {
  const sums = results.map((r) => r.checksum ?? [])
  for (let i = 0; i < sums[0].length; i++) {
    const vals = sums.map((s) => s[i])
    const ref = vals[0]
    if (vals.some((x) => Math.abs(x - ref) > 1e-9 * Math.max(1, Math.abs(ref)))) {
      throw new Error(`bench: ${w} ${v}: the libraries read back different data (${vals.join(' vs ')})`)
    }
  }
}

console.log(`bench (${mode}) in ${work}`)
try {
  const p1Data = writeP1(work, SIZES.p1)
  if (want('P1') || want('P5')) {
    for (const compression of [null, 'gzip']) {
      const variant = compression ?? 'none'
      if (!want('P1') && compression) continue
      const res = IMPLS.map((impl) =>
        record('P1', variant, impl, { workload: 'P1', variant, file: fileOf('P1', variant, impl), data: p1Data, chunks: [4096], compression }),
      )
      checkSame('P1', variant, res)
    }
  }
  if (want('P8')) {
    // History maintenance on P1's file (written by this library; each library on a
    // copy): delete all versions but one in ten, then shrink the file (this library's
    // compact(); Python's delete_versions followed by h5repack).
    let src = fileOf('P1', 'none', 'node')
    if (!existsSync(src)) {
      src = join(work, 'P8-src.h5')
      record('P1', 'none', 'node', { workload: 'P1', variant: 'none', file: src, data: p1Data, chunks: [4096], compression: null })
    }
    // A delete takes about 0.1 s here and 1 s in Python, so the machine's other load
    // moves a single run by half: three rounds, the two libraries in turn, each on a
    // fresh copy, and each library's median round.
    const rounds: Record<'node' | 'python', Result[]> = { node: [], python: [] }
    for (let round = 0; round < 3; round++) {
      for (const impl of ['node', 'python'] as const) {
        const file = join(work, `P8-${impl}.h5`)
        for (const side of ['.vh5-versions', '.vh5-commits']) rmSync(file + side, { force: true })
        copyFileSync(src, file)
        // The copy's writeback is no library's work: done before either one is timed.
        execFileSync('sync')
        rounds[impl].push(run(impl, { workload: 'P8', variant: 'delete 90%', file, keepEvery: 10 }))
      }
    }
    const res = (['node', 'python'] as const).map((impl) => {
      const all = rounds[impl]
      const median = [...all].sort((a, b) => (a.extra!.deleteS as number) - (b.extra!.deleteS as number))[1]
      const result = { ...median, extra: { ...median.extra, deleteRuns: all.map((r) => r.extra!.deleteS) } }
      process.stdout.write(`  P8 ${'delete 90%'.padEnd(10)} ${impl.padEnd(7)} `)
      return report('P8', 'delete 90%', impl, result, ' (median of 3 deletes)')
    })
    checkSame('P8', 'delete 90%', res)
    // modifyMetadata rechunking every version of P1's file (4096 → 16384), each library
    // on a copy (Python 2.6's modify_metadata), then shrinking the file.
    const meta = (['node', 'python'] as const).map((impl) => {
      const file = join(work, `P8-rechunk-${impl}.h5`)
      copyFileSync(src, file)
      return record('P8', 'rechunk', impl, { workload: 'P8meta', variant: 'rechunk', file, chunks: [16384] })
    })
    checkSame('P8', 'rechunk', meta)
  }
  if (want('P2')) {
    const p2Data = writeP2(work, SIZES.p2)
    for (const c of [64, 256]) {
      const variant = `${c}x${c}`
      const res = IMPLS.map((impl) =>
        record('P2', variant, impl, { workload: 'P2', variant, file: fileOf('P2', variant, impl), data: p2Data, chunks: [c, c] }),
      )
      checkSame('P2', variant, res)
    }
  }
  if (want('P3')) {
    const [nChunks, versions] = SIZES.p3
    const variant = `${nChunks / 1000}k`
    const res = IMPLS.map((impl) =>
      record('P3', variant, impl, { workload: 'P3', variant, file: fileOf('P3', variant, impl), nChunks, chunkLen: 1024, versions }),
    )
    checkSame('P3', variant, res)
    if (want('P8')) {
      // diff of two versions of P3's dataset (v1 and v2 differ in one chunk each), both
      // libraries on the file this library wrote.
      const spec = { workload: 'P8diff' as const, variant: 'diff', file: fileOf('P3', variant, 'node'), a: 'v1', b: 'v3', runs: 50 }
      checkSame('P8', 'diff', [record('P8', 'diff', 'node', spec), record('P8', 'diff', 'python', spec)])
    }
    for (const impl of IMPLS) rmSync(fileOf('P3', variant, impl), { force: true })
  }
  if (want('P4')) {
    const n = SIZES.p4 / 8
    const data = writeP4(work, n)
    for (const compression of [null, 'gzip', 'lzf']) {
      const variant = compression ?? 'none'
      for (const impl of IMPLS) {
        record('P4', variant, impl, { workload: 'P4', variant, file: fileOf('P4', variant, impl), data, chunks: [1 << 15], compression })
        rmSync(fileOf('P4', variant, impl), { force: true })
      }
    }
    rmSync(data, { force: true })
  }
  if (want('P5')) {
    const lens = p1Length(new Float64Array(readFileSync(p1Data).buffer.slice(0)))
    const slices = writeP5(work, lens[lens.length - 1])
    const res = IMPLS.map((impl) =>
      record('P5', 'reads', impl, {
        workload: 'P5',
        variant: 'reads',
        file: impl === 'plain' ? join(work, 'P5-plain.h5') : fileOf('P1', 'none', impl),
        data: p1Data,
        slices,
        chunks: [4096],
      }),
    )
    checkSame('P5', 'reads', res)
  }
  // P5L runs in the standard and full modes, or in --quick when asked for by --only
  // (then at a tenth of the size).
  const [p5lChunks, p5lSide] = SIZES.p5l[0] || !only?.has('P5L') ? SIZES.p5l : [4000, 1024]
  if (want('P5L') && p5lChunks > 0) {
    const cases = [
      { variant: 'none', shape: [p5lChunks * 1024], chunks: [1024], compression: null },
      { variant: 'gzip', shape: [p5lChunks * 1024], chunks: [1024], compression: 'gzip' },
      { variant: '2-D', shape: [p5lSide, p5lSide], chunks: [256, 256], compression: null },
    ]
    for (const c of cases) {
      const file = join(work, `P5L-${c.variant}.h5`)
      const spec = { workload: 'P5L' as const, ...c, file, plainFile: join(work, `P5L-${c.variant}-plain.h5`), versions: 20, slices: writeP5LSlices(work, c.shape) }
      // This library writes the versioned file (not timed); every library reads it.
      run('node', { ...spec, workload: 'P5Lmake' as const })
      checkSame('P5L', c.variant, IMPLS.map((impl) => record('P5L', c.variant, impl, spec)))
      rmSync(file, { force: true })
      rmSync(spec.plainFile, { force: true })
    }
  }
  if (want('P6') && SIZES.p6 > SIZES.p1) {
    const data = writeP1(work, SIZES.p6)
    record('P6', `${SIZES.p6}v`, 'node', { workload: 'P1', variant: 'P6', file: join(work, 'P6.h5'), data, chunks: [4096], compression: null })
  }
  if (want('P6')) {
    // History depth alone: the same stream of changes without appends, so every
    // commit touches the same amount of data at version 50 and at the last.
    const data = writeP1(work, SIZES.p6, 5000, 1000, 1, false)
    for (const impl of ['node', 'plain'] as const) {
      record('P6', `${SIZES.p6}v fixed size`, impl, { workload: 'P1', variant: 'P6 fixed', file: join(work, `P6-fixed-${impl}.h5`), data, chunks: [4096], compression: null })
    }
  }
  if (want('P9')) {
    // The P4 walk (64 MiB, or the whole stream when smaller), cycled into 8 MiB pieces.
    const pieceBytes = 8 << 20
    const data = writeP4(work, Math.min(SIZES.p9, 64 << 20) / 8, 8)
    for (const compression of [null, 'gzip', 'lzf']) {
      const variant = compression ?? 'none'
      const res = (['node', 'plain'] as const).map((impl) => {
        const r = record('P9', variant, impl, { workload: 'P9', variant, file: fileOf('P9', variant, impl), data, bytes: SIZES.p9, pieceBytes, chunks: [1 << 17], compression })
        rmSync(fileOf('P9', variant, impl), { force: true })
        return r
      })
      checkSame('P9', variant, res)
    }
    rmSync(data, { force: true })
  }
  if (want('P10')) {
    const variant = `${SIZES.p10}x10k`
    const res = IMPLS.map((impl) =>
      record('P10', variant, impl, { workload: 'P10', variant, file: fileOf('P10', variant, impl), rows: 10_000, commits: SIZES.p10, chunks: [65536] }),
    )
    checkSame('P10', variant, res)
    for (const impl of IMPLS) rmSync(fileOf('P10', variant, impl), { force: true })
  }
  if (want('P11')) {
    // The cost of power-loss durability: P1 (no compression) on the real disk of the
    // work directory, opened with durability 'process' (the default) and 'fsync'.
    for (const durability of ['process', 'fsync'] as const) {
      record('P11', durability, 'node', { workload: 'P1', variant: durability, file: fileOf('P11', durability, 'node'), data: p1Data, chunks: [4096], compression: null, durability })
    }
  }
  if (want('P7')) {
    const spec = { workload: 'P7' as const, variant: 'lookups', file: join(work, 'P7.h5'), checkpoints: SIZES.p7, lookups: SIZES.lookups, pyLookups: SIZES.pyLookups }
    record('P7', 'lookups', 'node', spec)
    for (const impl of PYS) record('P7', 'lookups', impl, spec)
  }
  // P12 runs in the standard and full modes, or in --quick when named in --only
  // (then at 1,000 and 10,000 versions). Its histories are written once, by this
  // library, and kept in target/bench-cache (delete them to write them again).
  const p12 = SIZES.p12.length || !only?.has('P12') ? SIZES.p12 : [1000, 10_000]
  if (want('P12') && p12.length) {
    const cache = join(root, 'target/bench-cache')
    mkdirSync(cache, { recursive: true })
    // v2: written with storage marks (docs/design/013), which the first commit trusts.
    const files = Object.fromEntries(p12.map((n) => [String(n), join(cache, `P12-v2-${n}.h5`)]))
    if (p12.some((n) => !existsSync(files[String(n)]))) {
      process.stdout.write(`  P12 writing ${p12.join(', ')}-version histories into ${cache} `)
      const t = performance.now()
      run('node', { workload: 'P12make', variant: '', file: join(work, 'P12-make.h5'), checkpoints: p12, files })
      console.log(`${((performance.now() - t) / 1000).toFixed(0)} s`)
    }
    const spec = { workload: 'P12' as const, variant: 'history', file: join(work, 'P12'), checkpoints: p12, files, pyLookups: SIZES.pyLookups }
    record('P12', 'history', 'node', spec)
    for (const impl of PYS) record('P12', 'history', impl, spec)
  }
  if (want('R')) {
    const [commits, versions] = SIZES.r
    process.stdout.write(`  R readers    node    `)
    const p = spawnSync(process.execPath, ['--import=tsx', join(root, 'bench/readers.mts'), String(commits), String(versions)], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 })
    const line = p.stdout.split('\n').find((l) => l.startsWith('RESULT '))
    if (p.status !== 0 || !line) throw new Error(`bench: R readers failed (exit ${p.status}):\n${p.stderr.slice(-4000)}`)
    readers = JSON.parse(line.slice(7))
    console.log(`${(readers!.watchingRatio as number).toFixed(2)}× with 4 watching readers`)
  }
} finally {
  if (!args.keep) rmSync(work, { recursive: true, force: true })
}

// ---------------------------------------------------------------------------------
// The table, the targets, the files.

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y)
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN
}
const pct = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y)
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN
}
const find = (w: string, v: string, impl: Impl) => rows.find((r) => r.workload === w && r.variant === v && r.impl === impl)?.result
const MiB = (b?: number) => (b === undefined ? '' : (b / 2 ** 20).toFixed(1))
const f = (x: number | undefined, d = 2) => (x === undefined || Number.isNaN(x) ? '' : x.toFixed(d))
const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}×` : '')

function throughput(r: Row): [string, number | undefined] {
  const x = r.result
  const e = x.extra as Record<string, any> | undefined
  switch (r.workload) {
    case 'P1':
    case 'P2':
    case 'P3':
    case 'P6':
    case 'P11':
      return [`${f((x.commitsMs!.length / x.seconds), 0)} commits/s`, x.seconds]
    case 'P4':
    case 'P9':
      return [`${f(e!.bytes / 2 ** 20 / x.seconds, 0)} MiB/s`, x.seconds]
    case 'P10':
      return [`${f(e!.rows / x.seconds, 0)} rows/s`, x.seconds]
    case 'P5':
      return [`${f(e!.slices / (e!.slicesMs / 1000), 0)} slices/s`, x.seconds]
    case 'P5L':
      return [`${f(e!.bytes / 2 ** 20 / (e!.warmMs / 1000), 0)} MiB/s`, e!.warmMs]
    case 'P12':
      return ['', undefined]
    case 'P8':
      if (e!.modifyS !== undefined) return [`rechunk ${f(e!.modifyS)} s`, x.seconds]
      return [e!.regions === undefined ? `delete ${f(e!.deleteS)} s, shrink ${f(e!.compactS)} s` : `diff ${f(e!.medianMs, 2)} ms`, e!.regions === undefined ? x.seconds : e!.medianMs]
    case 'P7': {
      const last = Object.values(e!.lookups as Record<string, { perSecond: number }>).at(-1)!
      return [`${f(last.perSecond, 0)} lookups/s`, 1 / last.perSecond]
    }
  }
  return ['', undefined]
}

const NAMES: Record<Impl, string> = { node: 'this library', python: 'Python versioned-hdf5 2.6', python24: 'Python versioned-hdf5 2.4', plain: 'plain h5py' }
const lines = [
  '| workload | variant | library | time (s) | commit median (ms) | commit p99 (ms) | throughput | file (MiB) | peak RSS (MiB) | vs Python | vs plain |',
  '|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|',
]
for (const r of rows) {
  const [tp, cost] = throughput(r)
  const c = r.result.commitsMs
  const pyCost = find(r.workload, r.variant, 'python') && throughput({ ...r, impl: 'python', result: find(r.workload, r.variant, 'python')! })[1]
  const plainCost = find(r.workload, r.variant, 'plain') && throughput({ ...r, impl: 'plain', result: find(r.workload, r.variant, 'plain')! })[1]
  lines.push(
    `| ${r.workload} | ${r.variant} | ${NAMES[r.impl]} | ${f(r.result.seconds)} | ${c ? f(median(c)) : ''} | ${c ? f(pct(c, 99)) : ''} | ${tp} | ${MiB(r.result.fileBytes)} | ${MiB(r.result.peakRss)} | ${r.impl === 'node' ? ratio(pyCost as number, cost) : ''} | ${r.impl === 'node' ? ratio(plainCost as number, cost) : ''} |`,
  )
}
const notes: string[] = []
const p3 = rows.find((r) => r.workload === 'P3' && r.impl === 'node')
if (p3) {
  const e = p3.result.extra as { floorMs: number | null; hdf5: string; withFloorRss?: number }
  if (e.floorMs === null) notes.push('P3 floor: not measured, the addon was built without the test-hooks feature (build with `VH5_FEATURES=test-hooks npm run build`).')
  else notes.push(`P3 floor (libhdf5 ${e.hdf5} alone creating and flushing one virtual dataset of ${p3.variant.replace('k', ',000')} mappings): ${f(e.floorMs, 1)} ms; one-chunk commit median ${f(median(p3.result.commitsMs!), 1)} ms = ${f(median(p3.result.commitsMs!) / e.floorMs)}× the floor. Peak RSS ${MiB(p3.result.peakRss)} MiB through the commits (its input array included), ${MiB(e.withFloorRss)} MiB once the floor has run in the same process.`)
}
for (const r of rows.filter((x) => x.workload === 'P5')) {
  const e = r.result.extra as {
    fullMs: Record<string, number>
    slicesMs: number
    fullIntoMs?: Record<string, number>
    slicesIntoMs?: number
    allocMs?: Record<string, number>
  }
  const three = (m: Record<string, number>) => `first ${f(m.first, 3)} ms, middle ${f(m.middle, 3)} ms, latest ${f(m.latest, 3)} ms`
  notes.push(`P5 ${NAMES[r.impl]}: full reads ${three(e.fullMs)}; 1,000 slices ${f(e.slicesMs, 1)} ms.`)
  if (e.fullIntoMs && e.allocMs && e.slicesIntoMs !== undefined) {
    notes.push(
      `P5 ${NAMES[r.impl]} into one kept array (readInto / readIntoSync): full reads ${three(e.fullIntoMs)}; 1,000 slices ${f(e.slicesIntoMs, 1)} ms. ` +
        `A fresh Float64Array of each result's length, every page touched, costs alone ${three(e.allocMs)}.`,
    )
  }
}
for (const r of rows.filter((x) => x.workload === 'P5L')) {
  const e = r.result.extra as Record<string, number>
  const blocks = e.rowBlocksMs === undefined ? '' : `; 256-row blocks ${f(e.rowBlocksMs, 1)} ms, 256-column blocks ${f(e.colBlocksMs, 1)} ms (all of them)`
  notes.push(
    `P5L ${r.variant} ${NAMES[r.impl]} (${MiB(e.bytes)} MiB): open ${f(e.openMs, 1)} ms, first full read after it ${f(e.coldMs, 1)} ms, warm full read ${f(e.warmMs, 1)} ms, ` +
      `1,000 slices of 100 elements ${f(e.slicesMs, 1)} ms${blocks}; peak RSS ${MiB(r.result.peakRss)} MiB.`,
  )
}
for (const r of rows.filter((x) => x.workload === 'P1' || x.workload === 'P6')) {
  const c = r.result.commitsMs!
  if (c.length >= 100) {
    // 50-commit windows: 20 gave medians that moved by a third between runs.
    const early = median(c.slice(25, 75))
    const late = median(c.slice(-50))
    const k = (r.result.extra as { chunks?: number[] } | undefined)?.chunks
    // Per chunk: each commit's time over the chunks of the version it wrote.
    const perChunk = k?.length === c.length ? c.map((ms, i) => (ms * 1000) / k[i]) : undefined
    const chunkNote = perChunk
      ? `; per chunk of the version (${k![50]} chunks, then ${k!.at(-1)}) ${f(median(perChunk.slice(25, 75)), 0)} µs and ${f(median(perChunk.slice(-50)), 0)} µs: ${f(median(perChunk.slice(-50)) / median(perChunk.slice(25, 75)))}×`
      : ''
    notes.push(`P6 ${NAMES[r.impl]} (${r.workload} ${r.variant}): commit median at versions 26–75 ${f(early)} ms, at the last 50 (to version ${c.length}) ${f(late)} ms: ${f(late / early)}×${chunkNote}.`)
  }
}
{
  const [a, b] = ['process', 'fsync'].map((d) => find('P11', d, 'node')?.commitsMs)
  if (a && b) {
    const fs = execFileSync('df', ['-T', os.tmpdir()], { encoding: 'utf8' }).trim().split('\n').at(-1)!.split(/\s+/)[1]
    notes.push(`P11 durability 'fsync' vs 'process' (P1, no compression, ${fs} at ${os.tmpdir()}): commit median ${f(median(b))} ms vs ${f(median(a))} ms (+${f(median(b) - median(a))} ms per commit), p99 ${f(pct(b, 99))} ms vs ${f(pct(a, 99))} ms.`)
  }
}
for (const r of rows.filter((x) => x.workload === 'P7')) {
  const e = r.result.extra as { lookups: Record<string, { openMs: number; perSecond: number }> }
  notes.push(`P7 ${NAMES[r.impl]}: ${Object.entries(e.lookups).map(([n, l]) => `${n} versions: ${f(l.perSecond, 0)} lookups/s (open ${f(l.openMs, 1)} ms)`).join('; ')}.`)
}
for (const r of rows.filter((x) => x.workload === 'P12')) {
  const e = (r.result.extra as { p12: Record<string, Record<string, number>> }).p12
  for (const [n, m] of Object.entries(e)) {
    notes.push(
      `P12 ${NAMES[r.impl]}, ${Number(n).toLocaleString('en')} versions: ${m.openScan === undefined ? '' : `first open 'a' of the copy (reads every version group, writes the version index) ${f(m.openScan, 1)} ms; then `}open 'r' ${f(m.openR, 1)} ms, first versionAt ${f(m.firstLookupMs, 2)} ms, then ${f(m.lookupUs, 1)} µs each; ` +
        `open 'a' ${f(m.openA, 1)} ms, first commit ${f(m.firstCommitMs, 1)} ms, steady commit ${f(m.steadyCommitMs, 2)} ms (${f(m.firstCommitMs / m.steadyCommitMs, 1)}×).`,
    )
  }
}
for (const r of rows.filter((x) => x.workload === 'P9')) {
  notes.push(`P9 ${r.variant} ${NAMES[r.impl]}: ${MiB((r.result.extra as { bytes: number }).bytes)} MiB appended in 8 MiB pieces, peak RSS ${MiB(r.result.peakRss)} MiB (this library: one version, default 256 MiB budget; plain h5py: a resizable dataset).`)
}
if (rows.some((x) => x.workload === 'P10')) notes.push(`P10: Python versioned-hdf5 is 2.6 (.venv26); each commit appends 10,000 rows to four columns (time int64, price float64, size int32, venue string), chunks of 65,536.`)
if (readers) {
  const r = readers
  notes.push(
    `R readers beside a writer (${r.commits} small commits): ${f(r.aloneCommitsPerSecond, 0)} commits/s alone; ` +
      `${f(r.watchingCommitsPerSecond, 0)} (${f(r.watchingRatio)}×) with four reader processes polling with watch(); ` +
      `${f(r.readingCommitsPerSecond, 0)} (${f(r.readingRatio)}×) with four that also read each new version. ` +
      `Commit return → watch() yield: median ${f(r.watchLatencyMs.median, 1)} ms, p99 ${f(r.watchLatencyMs.p99, 1)} ms (readers that read: ${f(r.readingLatencyMs.median, 1)} / ${f(r.readingLatencyMs.p99, 1)} ms). ` +
      `refresh() on ${r.versions} versions: nothing new ${f(r.refreshNothingNewUs, 2)} µs; after one commit median ${f(r.refreshAfterOneCommitUs.median, 1)} µs, p99 ${f(r.refreshAfterOneCommitUs.p99, 1)} µs.`,
  )
}
for (const r of rows.filter((x) => x.workload === 'P4')) {
  const extra = r.result.peakRss - r.result.baseRss
  const bytes = (r.result.extra as { bytes: number }).bytes
  notes.push(`P4 ${r.variant} ${NAMES[r.impl]}: peak RSS ${MiB(r.result.peakRss)} MiB, ${MiB(extra)} MiB above the process with its ${MiB(bytes)} MiB of input loaded.`)
}

{
  const del = (impl: Impl) => rows.find((x) => x.workload === 'P8' && x.variant === 'delete 90%' && x.impl === impl)?.result.extra?.deleteS as number | undefined
  const ours = del('node')
  const theirs = del('python')
  if (ours && theirs) notes.push(`P8 deleting alone (the medians): Python versioned-hdf5 2.6's delete_versions takes ${f(theirs / ours, 1)}× this library's deleteVersions.`)
}
for (const r of rows.filter((x) => x.workload === 'P8')) {
  const e = r.result.extra as Record<string, number>
  if (e.modifyS !== undefined) {
    notes.push(
      `P8 ${NAMES[r.impl]}: rechunking every one of ${e.versions} versions of P1 (chunks 4096 → ${e.chunks}) ${f(e.modifyS)} s, the file ${MiB(e.bytesBefore)} → ${MiB(e.bytesAfterModify)} MiB; ` +
        `${r.impl === 'node' ? 'compact()' : 'h5repack'} ${f(e.compactS)} s, to ${MiB(e.bytesAfterCompact)} MiB; peak RSS ${MiB(r.result.peakRss)} MiB.`,
    )
  } else if (e.regions === undefined) {
    notes.push(
      `P8 ${NAMES[r.impl]}: deleting ${e.deleted} of ${e.deleted + e.kept} versions of P1 ${f(e.deleteS, 3)} s (median of ${(e.deleteRuns as unknown as number[]).map((x) => f(x, 3)).join(', ')}), the file ${MiB(e.bytesBefore)} → ${MiB(e.bytesAfterDelete)} MiB; ` +
        `${r.impl === 'node' ? 'compact()' : 'h5repack'} ${f(e.compactS)} s, to ${MiB(e.bytesAfterCompact)} MiB.`,
    )
  } else {
    notes.push(`P8 ${NAMES[r.impl]}: diff of two versions of P3's dataset: first call ${f(e.firstMs, 1)} ms, then median ${f(e.medianMs, 2)} ms (${e.regions} changed chunks).`)
  }
}
const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`
const pyVersions = (p: string) => execFileSync(p, ['-c', 'import h5py, versioned_hdf5; print(h5py.version.hdf5_version, versioned_hdf5.__version__, h5py.__version__)'], { encoding: 'utf8' }).trim().split(' ')
const versions = pyVersions(py)
const also24 = args.py24 ? ` (and ${pyVersions(py24)[1]}, the "2.4" rows)` : ''
const require = (await import('node:module')).createRequire(import.meta.url)
const ourHdf5 = (require('../index.js') as { hdf5Version(): string }).hdf5Version()
const header = `Mode \`${mode}\`, ${new Date().toISOString().slice(0, 10)}, on ${machine}; Node ${process.version}; this library with libhdf5 ${ourHdf5}; Python versioned-hdf5 ${versions[1]}${also24} and h5py ${versions[2]} with libhdf5 ${versions[0]}. "vs" columns: the other library's time over ours (above 1 means this library is faster).`
const md = [header, '', ...lines, '', ...notes.map((n) => `- ${n}`), ''].join('\n')
console.log(`\n${md}`)
mkdirSync(join(root, 'bench/results'), { recursive: true })
writeFileSync(join(root, `bench/results/${mode}.json`), JSON.stringify({ mode, date: new Date().toISOString(), machine, versions: { ours: ourHdf5, python: versions }, rows }, null, 1))
writeFileSync(join(root, `bench/results/${mode}.md`), md)
if (args.readme) {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const start = '<!-- bench:start -->'
  const end = '<!-- bench:end -->'
  const a = readme.indexOf(start)
  const b = readme.indexOf(end)
  if (a < 0 || b < a) throw new Error('README.md has no bench markers')
  writeFileSync(join(root, 'README.md'), `${readme.slice(0, a + start.length)}\n${md}\n${readme.slice(b)}`)
}
