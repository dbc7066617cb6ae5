// Many readers, one writer (README "Readers and writers", docs/design/008): read-only
// handles in other processes open, refresh and read while a writer commits; a handle
// that never refreshes keeps reading what it knew; SIGKILLs of the writer with readers
// alive; a writer aborted mid-commit under an open reader; a reader stopped inside a
// call does not stall the writer; h5py is refused.
// Real processes throughout. Costs about 30-40 s, most of it the 2,000 commits and the
// 20 kills.
import test from 'ava'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

import { VersionedFile } from '../index.js'
import { PYTHON, tmpFile, VENV_PYTHON } from './helpers.js'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeBase, commitNext } = require('./crash/fault-ops.js') as { writeBase: (vf: VersionedFile) => Promise<void>; commitNext: (vf: VersionedFile) => Promise<void> }
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { check: checkC } = require('./readers/check-c.js') as { check: (vf: VersionedFile, name: string) => string | null }

const WRITER = join(__dirname, 'readers', 'writer.js')
const CRASH_WRITER = join(__dirname, 'crash', 'writer.js')
const FAULT_WRITER = join(__dirname, 'crash', 'fault-writer.js')
const READER = join(__dirname, 'readers', 'reader.js')
const CHECK_V = join(__dirname, 'readers', 'check-v.js')
const CHECK_C = join(__dirname, 'readers', 'check-c.js')
const LIB = join(__dirname, '..', 'index.js')

type Summary = { reads: number; wrong: string[]; errors: string[]; refreshes: number; reopens: number; newSeen: number; versions: number; current?: string; fatal?: string }

/** A reader process (readers/reader.js); `stop()` ends it and gives its summary. */
function reader(path: string, kind: 'refresh' | 'still', checks: string) {
  const child = spawn(process.execPath, [READER, path, kind, checks], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (err += d))
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
  return {
    child,
    async stop(): Promise<Summary> {
      child.stdin!.end()
      await exited
      try {
        return JSON.parse(out.trim().split('\n').pop() ?? '') as Summary
      } catch {
        return { fatal: `no summary (exit ${child.exitCode ?? child.signalCode}): ${out} ${err}` } as Summary
      }
    },
  }
}

/** Runs a writer script; resolves with the names it reported, its exit code or signal. */
function writer(args: string[], opts: { killAfterMs?: number; onLine?: (l: string) => void } = {}) {
  const child: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const reported: string[] = []
  let stderr = ''
  createInterface({ input: child.stdout! }).on('line', (l) => {
    reported.push(l)
    opts.onLine?.(l)
  })
  child.stderr!.on('data', (d) => (stderr += d))
  const timer = opts.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs)
  return new Promise<{ reported: string[]; code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      resolve({ reported, code, signal, stderr })
    })
  })
}

function summaries(t: any, all: Array<[string, Summary]>) {
  for (const [who, s] of all) {
    t.falsy(s.fatal, `${who}: ${s.fatal}`)
    t.deepEqual(s.wrong, [], `${who}: wrong reads`)
    t.deepEqual(s.errors, [], `${who}: errors`)
    t.true(s.reads > 0, `${who} read nothing`)
  }
}

test.serial('a writer commits 2,000 versions while three readers open, refresh and read, and a fourth never refreshes: every read exact, no error', async (t) => {
  t.timeout(180_000)
  const p = tmpFile('readers')
  const COMMITS = 2000
  let first!: () => void
  const started = new Promise<void>((r) => (first = r))
  const w = writer([WRITER, p, String(COMMITS)], { onLine: (l) => l === 'v1' && first() })
  await started
  const still = reader(p, 'still', CHECK_V)
  const readers = [reader(p, 'refresh', CHECK_V), reader(p, 'refresh', CHECK_V), reader(p, 'refresh', CHECK_V)]
  const done = await w
  t.is(done.code, 0, done.stderr)
  t.is(done.reported.length, COMMITS)
  const got = await Promise.all(readers.map((r) => r.stop()))
  const quiet = await still.stop()
  summaries(t, [...got.map((s, i): [string, Summary] => [`reader ${i}`, s]), ['the reader that never refreshes', quiet]])
  for (const [i, s] of got.entries()) {
    t.is(s.versions, COMMITS, `reader ${i} sees every version after its last refresh`)
    t.is(s.current, `v${COMMITS}`)
  }
  t.true(quiet.versions >= 1 && quiet.versions < COMMITS, `the reader that never refreshes still lists what it opened with (${quiet.versions})`)
  t.log(got.map((s, i) => `reader ${i}: ${s.reads} reads, ${s.refreshes} refreshes (${s.newSeen} new versions), ${s.reopens} reopens`).join('; '))
  t.log(`never refreshing: ${quiet.reads} reads of the ${quiet.versions} versions it opened with`)
})

test.serial('20 SIGKILLs of the writer at random moments with two readers alive: every reported version is there after recovery, every read exact', async (t) => {
  t.timeout(180_000)
  const p = tmpFile('readers-kill')
  // A first version, so that the readers have a file to open.
  const base = await writer([CRASH_WRITER, p, '1'])
  t.is(base.code, 0, base.stderr)
  const readers = [reader(p, 'refresh', CHECK_C), reader(p, 'refresh', CHECK_C)]
  const reported = new Set<string>(base.reported)
  let seed = Number(process.env.VH5_CRASH_SEED ?? Date.now() % 100000)
  t.log(`VH5_CRASH_SEED=${seed}`)
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  let killed = 0
  for (let i = 0; i < 20; i++) {
    const run = await writer([CRASH_WRITER, p], { killAfterMs: 80 + Math.floor(rand() * 500) })
    if (run.code === 3) t.fail(`writer ${i} failed by itself: ${run.stderr}`)
    if (run.signal === 'SIGKILL') killed += 1
    for (const r of run.reported) reported.add(r)
  }
  // A writer that is not killed recovers what the last one left and commits on.
  const last = await writer([CRASH_WRITER, p, '2'])
  t.is(last.code, 0, last.stderr)
  for (const r of last.reported) reported.add(r)
  const got = await Promise.all(readers.map((r) => r.stop()))
  summaries(t, got.map((s, i): [string, Summary] => [`reader ${i}`, s]))
  const vf = VersionedFile.open(p, { mode: 'r' })
  const have = new Set(vf.versions)
  for (const name of reported) t.true(have.has(name), `committed version ${name} is there`)
  const wrong = [...have].map((n) => checkC(vf, n)).filter((x) => x)
  t.deepEqual(wrong, [])
  for (const [i, s] of got.entries()) t.is(s.versions, have.size, `reader ${i}, refreshed, sees the recovered file's ${have.size} versions`)
  t.true(vf.verifySync().ok)
  vf.close()
  t.true(killed >= 16, `only ${killed} of 20 writers were killed`)
  t.log(`${killed} kills, ${reported.size} versions reported; readers: ${got.map((s) => `${s.reads} reads, ${s.reopens} reopens`).join('; ')}`)
})

test.serial('a writer that dies mid-commit while a reader is open: the reader reads the file through the journal, as the last commit left it, changing nothing; once the next writer recovered and committed, refresh() sees it', async (t) => {
  const p = tmpFile('readers-torn')
  const vf = VersionedFile.open(p, { mode: 'w' })
  await writeBase(vf)
  vf.close()
  const r = VersionedFile.open(p, { mode: 'r' })
  const contents = () =>
    JSON.stringify(r.versions.map((n) => ['x', 'm/grid', 's'].map((d) => Array.from(r.version(n).dataset(d).readSync() as ArrayLike<unknown>))))
  const before = contents()
  // Aborted at its 30th change to the file: well inside the commit (about 75 changes).
  const res = spawnSync(process.execPath, [FAULT_WRITER, p], { env: { ...process.env, VH5_FAULT_AT: '30' }, encoding: 'utf8' })
  t.is(res.signal, 'SIGABRT', res.stderr)
  const journal = `${p}.vh5-journal`
  t.true(existsSync(journal) && statSync(journal).size > 0, 'the dead writer left its journal')
  const bytes = readFileSync(p)
  t.deepEqual(r.refresh(), [], 'nothing was committed')
  t.deepEqual(r.versions, ['b1', 'b2', 'b3'])
  t.is(contents(), before, 'every committed version reads as before')
  t.true(readFileSync(p).equals(bytes), 'the reader changed nothing')
  t.true(existsSync(journal), 'and left the roll-back to the next writer')
  const w = VersionedFile.open(p, { mode: 'a' })
  t.true(w.recovered)
  await commitNext(w)
  t.deepEqual(r.refresh(), ['n4'])
  t.is(JSON.stringify(Array.from(r.version('n4').dataset('x').readSync([{ indices: [0, 5299] }]) as Float64Array)), '[-1,4.25]')
  t.true(contents().startsWith(before.slice(0, -1)), 'the versions before read as they did')
  w.close()
  r.close()
})

test.serial('a reader stopped (SIGSTOP) inside a call does not stall the writer: commits go on, and the reader, continued, reads every version exactly', async (t) => {
  t.timeout(120_000)
  const p = tmpFile('readers-stop')
  const w = await writer([WRITER, p, '3'])
  t.is(w.code, 0, w.stderr)
  const code = `
const lib = require(${JSON.stringify(LIB)})
const { check } = require(${JSON.stringify(CHECK_V)})
const vf = lib.VersionedFile.open(process.argv[1], { mode: 'r' })
process.stdout.write('holding\\n')
lib._holdReaderLockForTest(vf, 1500)
const before = vf.versions.length
const fresh = vf.refresh()
const wrong = vf.versions.map((n) => check(vf, n)).filter((x) => x)
process.stdout.write(JSON.stringify({ before, fresh: fresh.length, after: vf.versions.length, wrong }) + '\\n')`
  const child = spawn(process.execPath, ['-e', code, p], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: string[] = []
  let holding!: () => void
  const held = new Promise<void>((r) => (holding = r))
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(l)
    if (l === 'holding') holding()
  })
  const exited = new Promise<void>((r) => child.on('close', () => r()))
  await held
  // Inside its call now (it holds the reader's lock for 1.5 s): stop it there.
  await new Promise((r) => setTimeout(r, 100))
  child.kill('SIGSTOP')
  const w2 = await writer([WRITER, p, '20', '3'])
  child.kill('SIGCONT')
  t.is(w2.code, 0, w2.stderr)
  t.is(w2.reported.length, 20, 'the writer committed 20 versions while the reader was stopped holding its lock')
  await exited
  const res = JSON.parse(lines[1] ?? '{}')
  t.deepEqual(res, { before: 3, fresh: 20, after: 23, wrong: [] })
})

test.serial('read-only beside writable in one process: the reader sees what was committed when it opened, then each commit after refresh()', async (t) => {
  const p = tmpFile('readers-here')
  const w = VersionedFile.open(p, { mode: 'w' })
  await w.stageVersion('v1', (g) => void g.createDataset('x', { data: [1, 2, 3], chunks: [2] }))
  const r = VersionedFile.open(p, { mode: 'r' })
  t.deepEqual(r.versions, ['v1'])
  await w.stageVersion('v2', (g) => g.dataset('x').write([0], 10))
  t.deepEqual(r.versions, ['v1'], 'not before refresh()')
  t.deepEqual(Array.from(r.version('v1').dataset('x').readSync() as Float64Array), [1, 2, 3])
  t.deepEqual(r.refresh(), ['v2'])
  t.deepEqual(r.refresh(), [], 'nothing new')
  t.deepEqual(r.versions, ['v1', 'v2'])
  t.is(r.currentVersion, 'v2')
  t.deepEqual(Array.from(r.version('v2').dataset('x').readSync() as Float64Array), [10, 2, 3])
  t.is(r.version(0).name, 'v2')
  t.is(r.history().length, 2)
  t.deepEqual(w.refresh(), [], 'a writable handle knows its own commits')
  const watched: string[] = []
  const ac = new AbortController()
  const watching = (async () => {
    for await (const info of r.watch({ signal: ac.signal })) {
      watched.push(info.name)
      if (watched.length === 2) ac.abort()
    }
  })()
  await w.stageVersion('v3', (g) => g.dataset('x').write([1], 20))
  await w.stageVersion('v4', (g) => g.dataset('x').write([2], 30))
  await watching
  t.deepEqual(watched, ['v3', 'v4'])
  t.deepEqual(r.versions, ['v1', 'v2', 'v3', 'v4'])
  t.throws(() => w.watch(), { code: 'INVALID_ARGUMENT' })
  w.close()
  t.deepEqual(Array.from(r.version('v4').dataset('x').readSync() as Float64Array), [10, 20, 30])
  // Closing the handle ends a watch.
  const ended = (async () => {
    for await (const info of r.watch()) t.fail(`nothing was committed, yet ${info.name} came`)
    return 'ended'
  })()
  r.close()
  t.is(await ended, 'ended')
  t.throws(() => r.refresh(), { code: 'FILE_CLOSED' })
  t.throws(() => r.watch(), { code: 'FILE_CLOSED' })
})

test.serial('deleteVersions, modifyMetadata and compact() under an open reader: its next call sees a new generation, it reads the rewritten history and the compacted file, and follows later commits', async (t) => {
  const p = tmpFile('readers-rewrite')
  const w = VersionedFile.open(p, { mode: 'w' })
  await w.stageVersion('v1', (g) => void g.createDataset('x', { data: [1, 2, 3, 4], chunks: [2] }))
  await w.stageVersion('v2', (g) => g.dataset('x').write([0], 10))
  await w.stageVersion('v3', (g) => g.dataset('x').write([3], 40))
  const r = VersionedFile.open(p, { mode: 'r' })
  const read = (v: string) => Array.from(r.version(v).dataset('x').readSync() as Float64Array)
  t.deepEqual(read('v2'), [10, 2, 3, 4])
  t.deepEqual(read('v3'), [10, 2, 3, 40])
  await w.deleteVersions('v2')
  t.deepEqual(read('v3'), [10, 2, 3, 40], 'a surviving version reads the same after the rewrite (its slots moved)')
  t.deepEqual(read('v1'), [1, 2, 3, 4])
  t.throws(() => read('v2'), { code: 'VERSION_NOT_FOUND' }, 'a deleted version is gone for readers too')
  r.refresh()
  t.deepEqual(r.versions, ['v1', 'v3'])
  await w.modifyMetadata('x', { chunks: [3] })
  t.deepEqual(read('v3'), [10, 2, 3, 40], 'after modifyMetadata the reader reads the rechunked storage')
  t.deepEqual(r.version('v1').dataset('x').chunks, [3])
  t.deepEqual(read('v1'), [1, 2, 3, 4])
  const inodeBefore = statSync(p).ino
  const { bytesAfter } = await w.compact()
  t.not(statSync(p).ino, inodeBefore, 'compact() put a new file under the path')
  t.is(statSync(p).size, bytesAfter)
  t.false(existsSync(`${p}.vh5-compact.vh5-commits`), 'the copy leaves no commits file of its own')
  t.deepEqual(read('v3'), [10, 2, 3, 40], 'the reader moved to the compacted file')
  t.deepEqual(r.refresh(), [])
  await w.stageVersion('v4', (g) => g.dataset('x').write([1], 20))
  t.deepEqual(r.refresh(), ['v4'], 'commits to the compacted file reach the reader')
  t.deepEqual(read('v4'), [10, 20, 3, 40])
  w.close()
  r.close()
})

test.serial('while this library writes, h5py and Python versioned-hdf5 are refused (HDF5 file lock), and a second writer gets FILE_LOCKED', async (t) => {
  const p = tmpFile('readers-h5py')
  const w = VersionedFile.open(p, { mode: 'w' })
  await w.stageVersion('v1', (g) => void g.createDataset('x', { data: [1, 2, 3], chunks: [2] }))
  const env = { ...process.env }
  delete env.HDF5_USE_FILE_LOCKING
  const code = `import sys, h5py
for mode in ('r', 'r+'):
    try:
        h5py.File(sys.argv[1], mode).close(); print(mode, 'opened')
    except OSError as e:
        print(mode, 'refused', 'lock' in str(e))`
  const h5 = spawnSync(PYTHON, ['-c', code, p], { encoding: 'utf8', env })
  t.is(h5.stdout.trim(), 'r refused True\nr+ refused True', h5.stderr)
  const vcode = `import sys, h5py
from versioned_hdf5 import VersionedHDF5File
try:
    f = h5py.File(sys.argv[1], 'r'); VersionedHDF5File(f); print('opened')
except OSError as e:
    print('refused', 'lock' in str(e))`
  t.true(existsSync(VENV_PYTHON), 'the interop venv')
  const v = spawnSync(VENV_PYTHON, ['-c', vcode, p], { encoding: 'utf8', env })
  t.is(v.stdout.trim(), 'refused True', v.stderr)
  const second = spawnSync(process.execPath, ['-e', `try { require(${JSON.stringify(LIB)}).VersionedFile.open(process.argv[1], { mode: 'a' }); console.log('opened') } catch (e) { console.log(e.code) }`, p], { encoding: 'utf8' })
  t.is(second.stdout.trim(), 'FILE_LOCKED', second.stderr)
  const ro = spawnSync(process.execPath, ['-e', `const f = require(${JSON.stringify(LIB)}).VersionedFile.open(process.argv[1], { mode: 'r' }); console.log(f.versions.join(','))`, p], { encoding: 'utf8' })
  t.is(ro.stdout.trim(), 'v1', ro.stderr)
  w.close()
  // Closed: h5py reads the file.
  const after = spawnSync(PYTHON, ['-c', code, p], { encoding: 'utf8', env })
  t.is(after.stdout.trim(), 'r opened\nr+ opened', after.stderr)
})
