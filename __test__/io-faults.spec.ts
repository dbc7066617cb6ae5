// Trustworthy under I/O faults (README "Crash safety"): a commit whose write, truncation
// or journal append fails with ENOSPC or EIO fails with NO_SPACE / IO_ERROR and leaves
// the file byte for byte as the last commit left it; the same handle commits again.
// The test build's fault injection (VH5_FAULT_AT=n, VH5_FAULT_ERRNO) fails the n-th
// change to the file in a child process (crash/io-fault-writer.js), one commit that
// touches every kind of object (crash/fault-ops.js), at every point in turn; and
// setCurrentVersion and the repairs of an open, which hand faults over the same way.
import test, { type ExecutionContext } from 'ava'
import { spawnSync } from 'node:child_process'
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { VersionedFile } from '../index.js'
import { ownListsFromTwoMappings, PYTHON, tmpFile } from './helpers.js'
import { snapshot } from './support/snapshot.js'

// Small datasets too take the path that encodes mapping lists here (design 033).
ownListsFromTwoMappings()

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeBase, commitNext } = require('./crash/fault-ops.js') as { writeBase: (vf: VersionedFile) => Promise<void>; commitNext: (vf: VersionedFile) => Promise<void> }

const WRITER = join(__dirname, 'crash', 'io-fault-writer.js')

interface Outcome {
  committed?: boolean
  failed?: { code: string; message: string }
  sameWhileOpen?: boolean
  sameAsBeforeWhileOpen?: boolean
  retried?: boolean
  closed?: boolean
  closeFailed?: { code: string; message: string }
  sameAfterClose?: boolean
  sameAfterReopen?: boolean
  recovered?: boolean
  crashed?: { code: string; message: string }
}

function verifyClean(t: ExecutionContext, p: string, what: string): void {
  const vf = VersionedFile.open(p, { mode: 'r' })
  const rep = vf.verifySync()
  vf.close()
  if (!rep.ok) t.fail(`${what}: verify(): ${JSON.stringify(rep.problems.slice(0, 3))}`)
}

async function sweep(t: ExecutionContext, errno: 'ENOSPC' | 'EIO', mode: 'retry' | 'close', every: number): Promise<void> {
  const code = errno === 'ENOSPC' ? 'NO_SPACE' : 'IO_ERROR'
  const base = tmpFile('io-base')
  const vf = VersionedFile.open(base, { mode: 'w' })
  await writeBase(vf)
  vf.close()
  const baseBytes = readFileSync(base)
  const whole = tmpFile('io-whole')
  copyFileSync(base, whole)
  const wf = VersionedFile.open(whole, { mode: 'a' })
  await commitNext(wf)
  wf.close()
  const after = snapshot(whole)
  const counts = { points: 0, failedCommits: 0, sameHandleCommitted: 0, handleClosed: 0, atClose: 0, atOpen: 0 }
  let finished = false
  for (let n = 1; n <= 2000 && !finished; n += every) {
    const p = tmpFile('io')
    copyFileSync(base, p)
    const r = spawnSync(process.execPath, [WRITER, p, base, mode], { env: { ...process.env, VH5_FAULT_AT: String(n), VH5_FAULT_ERRNO: errno }, encoding: 'utf8' })
    let out: Outcome
    try {
      out = JSON.parse(r.stdout) as Outcome
    } catch {
      t.fail(`point ${n}: the writer printed no outcome (status ${r.status ?? r.signal}): ${r.stdout} ${r.stderr}`)
      return
    }
    const at = `${errno} ${mode} point ${n}`
    if (out.committed && out.closed) {
      finished = true
      t.deepEqual(snapshot(p), after, `${at}: past the last change, the commit ran to the end`)
      break
    }
    counts.points += 1
    let expectAfter = false
    if (out.crashed) {
      // The open itself wrote (libhdf5 marks the superblock) and that write failed.
      t.is(out.crashed.code, code, `${at}: ${out.crashed.message}`)
      t.regex(out.crashed.message, /^opening /, at)
      counts.atOpen += 1
    } else if (out.committed) {
      // The commit returned; the close failed: the version is there, whole.
      t.is(out.closeFailed?.code, code, `${at}: ${JSON.stringify(out)}`)
      counts.atClose += 1
      expectAfter = true
    } else {
      const f = out.failed
      t.is(f?.code, code, `${at}: ${JSON.stringify(out)}`)
      t.true(f!.message.includes(p) && f!.message.includes(errno), `${at}: the message names the file and the cause: ${f!.message}`)
      counts.failedCommits += 1
      if (f!.message.includes('ready for the next one')) {
        t.true(out.sameWhileOpen, `${at}: the file is unchanged while the handle is open`)
        if (mode === 'retry') {
          t.true(out.retried && out.closed, `${at}: the same handle commits again: ${JSON.stringify(out)}`)
          counts.sameHandleCommitted += 1
          expectAfter = true
        } else {
          t.true(out.closed && out.sameAfterClose && out.sameAfterReopen && out.recovered === false, `${at}: unchanged after close and after a reopen: ${JSON.stringify(out)}`)
        }
      } else {
        t.fail(`${at}: the handle did not reopen the file: ${f!.message}`)
        t.true(out.sameAsBeforeWhileOpen, `${at}: the file is rolled back at once`)
        counts.handleClosed += 1
      }
    }
    if (expectAfter) {
      t.deepEqual(snapshot(p), after, `${at}: the version, whole`)
    } else {
      const ro = VersionedFile.open(p, { mode: 'r' })
      ro.close()
      t.true(readFileSync(p).equals(baseBytes), `${at}: the file is byte for byte as before the commit`)
    }
    verifyClean(t, p, at)
    // Writing goes on in a new process state too.
    const w = VersionedFile.open(p, { mode: 'a' })
    if (!expectAfter) await commitNext(w)
    await w.stageVersion('n5', (g) => g.dataset('x').write([7], 77))
    w.close()
    verifyClean(t, p, `${at}, next commits`)
    if (counts.points % 20 === 1) {
      const got = spawnSync(PYTHON, ['-c', `import h5py, sys
f = h5py.File(sys.argv[1], 'r')
v = f['_version_data/versions']
print(sorted(k for k in v if k != '__first_version__'), float(v['n5/x'][7]), float(v['b3/x'][300]))`, p], { encoding: 'utf8' })
      t.is(got.stdout.trim(), "['b1', 'b2', 'b3', 'n4', 'n5'] 77.0 2.5", `${at}: h5py: ${got.stderr}`)
    }
  }
  t.true(finished, 'the sweep reached the end of the commit')
  t.true(counts.failedCommits > 10, JSON.stringify(counts))
  t.log(`${errno} ${mode}: ${JSON.stringify(counts)}`)
}

test.serial('ENOSPC at every write, truncation and journal append of a commit: NO_SPACE, the file unchanged while open, the same handle commits again', async (t) => {
  t.timeout(15 * 60_000)
  await sweep(t, 'ENOSPC', 'retry', 1)
})

test.serial('ENOSPC at every point, then close and reopen: the file is byte for byte as before', async (t) => {
  t.timeout(15 * 60_000)
  await sweep(t, 'ENOSPC', 'close', 1)
})

test.serial('EIO at every third point: IO_ERROR, nothing changed, writing goes on', async (t) => {
  t.timeout(15 * 60_000)
  await sweep(t, 'EIO', 'retry', 3)
})

// setCurrentVersion and the repairs an open makes hand an I/O fault over as a commit
// does: NO_SPACE, the file rolled back at once, the handle usable. Each point runs in a
// child (the fault counter counts from its start); about 3 s.
function faultChild(script: string, args: string[], n: number) {
  const r = spawnSync(process.execPath, ['-e', `const { VersionedFile } = require(${JSON.stringify(join(__dirname, '..', 'index.js'))})\n${script}`, ...args], {
    env: { ...process.env, VH5_FAULT_AT: String(n), VH5_FAULT_ERRNO: 'ENOSPC' },
    encoding: 'utf8',
  })
  return JSON.parse(r.stdout || `{"crashed":${JSON.stringify(r.stderr.slice(-500))}}`) as Record<string, unknown>
}

test.serial('ENOSPC in setCurrentVersion: NO_SPACE, the file unchanged after close, the same handle sets it after', async (t) => {
  const base = tmpFile('io-scv')
  const vf = VersionedFile.open(base, { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: new Float64Array([1, 2]) }))
  await vf.stageVersion('v2', (g) => g.dataset('x').write([0], 5))
  vf.close()
  const before = readFileSync(base)
  const script = `
const fs = require('node:fs')
const [p, base, mode] = process.argv.slice(1)
let f
try { f = VersionedFile.open(p, { mode: 'a' }) } catch (e) { console.log(JSON.stringify({ open: e.code })); process.exit(0) }
try { f.setCurrentVersion('v1'); f.close(); console.log(JSON.stringify({ ok: 'v1' })) }
catch (e) {
  const out = { code: e.code, message: e.message, current: f.currentVersion }
  // 'close': closed at once, the file is as before; 'retry': the same handle sets it.
  if (mode === 'close') { f.close(); out.same = fs.readFileSync(p).equals(fs.readFileSync(base)) }
  else { f.setCurrentVersion('v1'); out.retried = f.currentVersion; f.close() }
  console.log(JSON.stringify(out))
}`
  let failed = 0
  let done = false
  for (let n = 1; n <= 40 && !done; n++) {
    for (const mode of ['close', 'retry']) {
      const p = tmpFile('io-scv')
      copyFileSync(base, p)
      const out = faultChild(script, [p, base, mode], n)
      t.falsy(out.crashed, `point ${n}: ${out.crashed}`)
      if (out.ok) {
        done = true
        break
      }
      if (out.open) {
        t.is(out.open, 'NO_SPACE', `point ${n}`)
        t.true(readFileSync(p).equals(before), `point ${n}: a failed open changed nothing`)
        continue
      }
      failed += 1
      t.is(out.code, 'NO_SPACE', `point ${n}: ${out.message}`)
      t.true(String(out.message).includes('setting the current version'), String(out.message))
      t.is(out.current, 'v2', `point ${n}: the handle still has the old current version`)
      if (mode === 'close') t.true(out.same, `point ${n}: the file is unchanged after close`)
      else t.is(out.retried, 'v1', `point ${n}: the same handle sets it after`)
      const r = VersionedFile.open(p, { mode: 'r' })
      t.is(r.currentVersion, mode === 'close' ? 'v2' : 'v1')
      t.deepEqual(r.verifySync().problems, [])
      r.close()
    }
  }
  t.true(failed > 0, 'some point failed inside setCurrentVersion')
})

test.serial('ENOSPC in the repair of an open (initialising a plain HDF5 file): NO_SPACE at open(), the file unchanged', (t) => {
  const base = tmpFile('io-init')
  spawnSync(PYTHON, ['-c', "import h5py, sys; f = h5py.File(sys.argv[1], 'w'); f['a'] = [1, 2, 3]", base])
  const before = readFileSync(base)
  const script = `
const [p] = process.argv.slice(1)
try { const f = VersionedFile.open(p, { mode: 'a' }); console.log(JSON.stringify({ ok: f.versions.length })); f.close() }
catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`
  let inRepair = 0
  for (let n = 1; n <= 60; n++) {
    const p = tmpFile('io-init')
    copyFileSync(base, p)
    const out = faultChild(script, [p], n)
    t.falsy(out.crashed, `point ${n}: ${out.crashed}`)
    if (out.ok !== undefined) break
    t.is(out.code, 'NO_SPACE', `point ${n}: ${out.message}`)
    t.true(readFileSync(p).equals(before), `point ${n}: the file is unchanged`)
    if (String(out.message).includes('initialising versioning')) inRepair += 1
  }
  t.true(inRepair > 0, 'some point failed inside the initialisation')
})
