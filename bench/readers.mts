// Readers beside a writer (README "Readers and writers"): run by `npm run bench`
// (workload R), or alone: node --import=tsx bench/readers.mts [commits] [versions].
//  - writer throughput, small commits, alone, with four reader processes that watch()
//    the file (polling), and with four that also read each new version;
//  - latency from a commit's return in the writer to a watch() reader yielding it;
//  - refresh() with nothing new, and after one commit, on a file of 10,000 versions.
// Prints `RESULT {json}`.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

import type { VersionedFile as VF } from '../index.js'

const require = createRequire(import.meta.url)
const { VersionedFile } = require('../index.js') as typeof import('../index.js')
type VersionedFile = VF

const COMMITS = Number(process.argv[2] ?? 1000)
const VERSIONS = Number(process.argv[3] ?? 10_000)
const now = () => performance.timeOrigin + performance.now()
const dir = mkdtempSync(join(os.tmpdir(), 'vh5-bench-readers-'))
const lib = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'index.js')

async function commit(vf: VersionedFile, n: number) {
  await vf.stageVersion(`v${n}`, (g) => {
    if (n === 1) {
      g.createDataset('x', { data: new Float64Array(256), chunks: [64] })
      return
    }
    g.dataset('x').write([[(n % 4) * 64, (n % 4) * 64 + 64]], n)
  })
}

const READER = `
const { VersionedFile } = require(${JSON.stringify(lib)})
const now = () => performance.timeOrigin + performance.now()
const vf = VersionedFile.open(process.argv[1], { mode: 'r' })
const seen = {}
const ac = new AbortController()
process.stdin.on('end', () => ac.abort()); process.stdin.resume()
process.stdout.write('ready\\n')
;(async () => {
  for await (const v of vf.watch({ signal: ac.signal })) {
    seen[v.name] = now()
    if (process.argv[2] === 'read') vf.version(v.name).dataset('x').readSync()
  }
  process.stdout.write(JSON.stringify(seen) + '\\n')
})()`

function startReader(path: string, read: boolean) {
  const child = spawn(process.execPath, ['-e', READER, path, read ? 'read' : 'watch'], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines: string[] = []
  let ready!: () => void
  const isReady = new Promise<void>((r) => (ready = r))
  createInterface({ input: child.stdout! }).on('line', (l) => (l === 'ready' ? ready() : lines.push(l)))
  const closed = new Promise<void>((r) => child.on('close', () => r()))
  return {
    isReady,
    async stop(): Promise<Record<string, number>> {
      child.stdin!.end()
      await closed
      return JSON.parse(lines.at(-1) ?? '{}')
    },
  }
}

async function throughput(readers: number, read = false): Promise<{ perSecond: number; returned: Record<string, number>; seen: Array<Record<string, number>> }> {
  const path = join(dir, `t${readers}-${read}.h5`)
  const vf = VersionedFile.open(path, { mode: 'w' })
  await commit(vf, 1)
  const rs = Array.from({ length: readers }, () => startReader(path, read))
  await Promise.all(rs.map((r) => r.isReady))
  const returned: Record<string, number> = {}
  const t0 = now()
  for (let n = 2; n <= COMMITS + 1; n++) {
    await commit(vf, n)
    returned[`v${n}`] = now()
  }
  const seconds = (now() - t0) / 1000
  // Let the readers see the last commit before they stop.
  await new Promise((r) => setTimeout(r, 200))
  const seen = await Promise.all(rs.map((r) => r.stop()))
  vf.close()
  return { perSecond: COMMITS / seconds, returned, seen }
}

const pct = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y)
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] : NaN
}

function latency(run: Awaited<ReturnType<typeof throughput>>) {
  const ms: number[] = []
  let missed = 0
  for (const seen of run.seen) {
    for (const [name, at] of Object.entries(run.returned)) {
      if (seen[name] === undefined) missed += 1
      else ms.push(seen[name] - at)
    }
  }
  return { median: pct(ms, 50), p99: pct(ms, 99), samples: ms.length, missed }
}

// Each configuration twice, interleaved, keeping the faster run: on a shared machine
// the load moves between runs more than the readers cost.
const best = (a: Awaited<ReturnType<typeof throughput>>, b: Awaited<ReturnType<typeof throughput>>) => (a.perSecond >= b.perSecond ? a : b)
const runs = [] as Array<Awaited<ReturnType<typeof throughput>>>
for (let round = 0; round < 2; round++) {
  runs.push(await throughput(0), await throughput(4), await throughput(4, true))
}
const alone = best(runs[0], runs[3])
const watching = best(runs[1], runs[4])
const reading = best(runs[2], runs[5])

// refresh() on a file of VERSIONS versions.
const big = join(dir, 'big.h5')
const w = VersionedFile.open(big, { mode: 'w' })
for (let n = 1; n <= VERSIONS; n++) await commit(w, n)
const r = VersionedFile.open(big, { mode: 'r' })
const LOOPS = 100_000
let t = now()
for (let i = 0; i < LOOPS; i++) r.refresh()
const nothingNewUs = ((now() - t) * 1000) / LOOPS
const afterOne: number[] = []
for (let n = VERSIONS + 1; n <= VERSIONS + 200; n++) {
  await commit(w, n)
  t = now()
  const got = r.refresh()
  afterOne.push((now() - t) * 1000)
  if (got.length !== 1) throw new Error(`refresh() after one commit gave ${got.length} names`)
}
r.close()
w.close()
rmSync(dir, { recursive: true, force: true })

const result = {
  commits: COMMITS,
  aloneCommitsPerSecond: alone.perSecond,
  watchingCommitsPerSecond: watching.perSecond,
  watchingRatio: watching.perSecond / alone.perSecond,
  readingCommitsPerSecond: reading.perSecond,
  readingRatio: reading.perSecond / alone.perSecond,
  watchLatencyMs: latency(watching),
  readingLatencyMs: latency(reading),
  versions: VERSIONS,
  refreshNothingNewUs: nothingNewUs,
  refreshAfterOneCommitUs: { median: pct(afterOne, 50), p99: pct(afterOne, 99) },
}
console.log(`RESULT ${JSON.stringify(result)}`)
