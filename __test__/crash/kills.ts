// Crash safety under random kills: a writer process committing versions in a loop is
// killed with SIGKILL at random moments. After every kill the file opens, every version
// the writer reported as committed reads back exactly, verify() finds no problem, and
// the next writer commits on. Used by crash.spec.ts (npm test) and crash.soak.ts.
import type { ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { VersionedFile } from '../../index.js'
import { tmpFile } from '../helpers.js'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { expected } = require('./expected.js') as { expected: (n: number) => { x: Float64Array; log: Float64Array; s: string[] } }

const WRITER = join(__dirname, 'writer.js')

/** Runs the writer, kills it with SIGKILL after `ms` (or lets it finish `limit` commits). */
function runWriter(path: string, ms: number, limit?: number): Promise<{ reported: string[]; signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const args = [WRITER, path, ...(limit === undefined ? [] : [String(limit)])]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let stderr = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = limit === undefined ? setTimeout(() => child.kill('SIGKILL'), ms) : undefined
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer)
      // Only whole lines: a name is reported once its line is complete.
      const reported = out.split('\n').slice(0, -1)
      resolve({ reported, signal, code, stderr })
    })
  })
}

function same(a: ArrayLike<unknown>, b: ArrayLike<unknown>): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export async function randomKills(t: ExecutionContext, KILLS: number): Promise<void> {
  const path = tmpFile('crash')
  const reported = new Set<string>()
  let seed = Number(process.env.VH5_CRASH_SEED ?? Date.now() % 100000)
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  t.log(`seed ${process.env.VH5_CRASH_SEED ?? '(from clock)'} → VH5_CRASH_SEED=${seed}`)
  let killed = 0
  let progressed = 0
  let rolledBack = 0
  let unborn = 0
  for (let i = 0; i < KILLS; i++) {
    // Node's start-up takes ~50 ms; kill anywhere from before the first commit to deep in the loop.
    const ms = 40 + Math.floor(rand() * 400)
    const run = await runWriter(path, ms)
    if (run.code === 3) t.fail(`writer ${i} failed by itself: ${run.stderr}`)
    if (run.signal === 'SIGKILL') killed += 1
    for (const r of run.reported) reported.add(r)
    if (run.reported.length > 0) progressed += 1
    // A writer killed while Node was still starting, or while it created the file,
    // leaves no file or an empty one; that is fine while no version was reported (the
    // next writer's mode 'a' creates the file again).
    // (Opening rolls back a creation that was cut short, which leaves an empty file.)
    const unbornFile = () => reported.size === 0 && (!existsSync(path) || statSync(path).size === 0)
    if (unbornFile()) {
      unborn += 1
      continue
    }
    let vf: VersionedFile
    try {
      vf = VersionedFile.open(path, { mode: 'r' })
    } catch (e) {
      if (!unbornFile()) throw e
      unborn += 1
      continue
    }
    // Every reported version reads back exactly; verify() finds nothing wrong.
    if (vf.recovered) rolledBack += 1
    try {
      const have = new Set(vf.versions)
      for (const name of reported) {
        if (!have.has(name)) {
          t.fail(`kill ${i} (after ${ms} ms): committed version ${name} is lost`)
          continue
        }
        const n = Number(name.slice(1))
        const e = expected(n)
        const v = vf.version(name)
        const ok = same(v.dataset('x').readSync() as Float64Array, e.x) && same(v.dataset('log').readSync() as Float64Array, e.log) && same(v.dataset('s').readSync() as string[], e.s)
        if (!ok) t.fail(`kill ${i}: version ${name} reads back wrong`)
      }
      const rep = vf.verifySync()
      if (!rep.ok) t.fail(`kill ${i} (after ${ms} ms): verify found ${JSON.stringify(rep.problems.slice(0, 3))}`)
    } finally {
      vf.close()
    }
  }
  // A writer that is not killed commits on, and the whole history still verifies.
  const last = await runWriter(path, 0, 3)
  t.is(last.code, 0, last.stderr)
  t.is(last.reported.length, 3)
  const vf = VersionedFile.open(path, { mode: 'r' })
  t.true(vf.verifySync().ok)
  const n = Math.max(...vf.versions.map((v) => Number(v.slice(1))))
  t.is(vf.currentVersion, `c${n}`)
  vf.close()
  t.log(`${killed} kills survived, ${reported.size} versions reported committed, ${progressed} runs committed before being killed, ${rolledBack} opens rolled back an interrupted commit, ${unborn} writers died before the file held a version`)
  t.true(killed >= KILLS * 0.8, `only ${killed} of ${KILLS} runs were killed`)
  t.true(reported.size > 0)
}
