// Crash safety (README "Crash safety"): committed versions survive a writer that dies at
// any moment, and a commit that did not return leaves no trace.
//  - Random SIGKILLs of a writer committing in a loop (30 kills; npm run soak:crash for more).
//  - A deterministic sweep: one commit is aborted just before each of its changes to the
//    file in turn (VH5_FAULT_AT), from the first write to the journal's commit point.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { VersionedFile } from '../index.js'
import { randomKills } from './crash/kills.js'
import { ownListsFromTwoMappings, PYTHON, tmpFile } from './helpers.js'
import { snapshot } from './support/snapshot.js'

// Small datasets too take the path that encodes mapping lists here (design 033).
ownListsFromTwoMappings()

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeBase, commitNext } = require('./crash/fault-ops.js') as { writeBase: (vf: VersionedFile) => Promise<void>; commitNext: (vf: VersionedFile) => Promise<void> }

const FAULT_WRITER = join(__dirname, 'crash', 'fault-writer.js')

test.serial('SIGKILL at random moments (30 kills): no reported version is ever lost, the file stays sound, writing goes on', async (t) => {
  t.timeout(15 * 60_000)
  await randomKills(t, 30)
})

test.serial('a commit aborted just before each of its changes to the file: the file comes back byte for byte as before, or with the whole version', async (t) => {
  t.timeout(20 * 60_000)
  const base = tmpFile('fault-base')
  const vf = VersionedFile.open(base, { mode: 'w' })
  await writeBase(vf)
  vf.close()
  const baseBytes = readFileSync(base)
  const before = snapshot(base)
  // The same commit, not interrupted, gives the other allowed outcome.
  const whole = tmpFile('fault-whole')
  copyFileSync(base, whole)
  const wf = VersionedFile.open(whole, { mode: 'a' })
  await commitNext(wf)
  wf.close()
  const after = snapshot(whole)
  t.notDeepEqual(before, after)

  let points = 0
  let rolledBack = 0
  let afterCommit = 0
  let finished = false
  for (let n = 1; n <= 5000 && !finished; n++) {
    const p = tmpFile('fault')
    copyFileSync(base, p)
    const r = spawnSync(process.execPath, [FAULT_WRITER, p], { env: { ...process.env, VH5_FAULT_AT: String(n) }, encoding: 'utf8' })
    if (r.status === 0) {
      // n is past the last change the commit (and the close) makes: the sweep is complete.
      finished = true
      t.deepEqual(snapshot(p), after, 'the commit that ran to the end')
      t.false(existsSync(`${p}.vh5-journal`), 'a clean close removes the journal')
      break
    }
    if (r.signal !== 'SIGABRT') {
      t.fail(`point ${n}: the writer ended with ${r.status ?? r.signal}: ${r.stderr}`)
      break
    }
    points += 1
    const returned = r.stdout.includes('committed\n')
    const ro = VersionedFile.open(p, { mode: 'r' })
    if (ro.recovered) rolledBack += 1
    ro.close()
    t.false(existsSync(`${p}.vh5-journal`), `point ${n}: recovery removes the journal`)
    if (returned) {
      // Aborted after the commit point (while closing): the version is there, whole.
      afterCommit += 1
      t.deepEqual(snapshot(p), after, `point ${n}: after the commit returned`)
    } else {
      const now = readFileSync(p)
      let first = -1
      for (let i = 0; i < Math.max(now.length, baseBytes.length); i++) if (now[i] !== baseBytes[i]) { first = i; break }
      t.true(now.equals(baseBytes), `point ${n}: the file is byte for byte what it was before the commit (${now.length} vs ${baseBytes.length} bytes, first difference at ${first})`)
    }
    const rep = VersionedFile.open(p, { mode: 'r' })
    const report = rep.verifySync()
    rep.close()
    if (!report.ok) t.fail(`point ${n}: verify(): ${JSON.stringify(report.problems.slice(0, 3))}`)
    // Writing goes on: the next commit (the same one, when it had not happened) succeeds.
    const w = VersionedFile.open(p, { mode: 'a' })
    if (!returned) await commitNext(w)
    await w.stageVersion('n5', (g) => g.dataset('x').write([7], 77))
    t.true(w.verifySync().ok, `point ${n}: verify() after the next commits`)
    w.close()
    if (n % 25 === 1) {
      // libhdf5 alone (h5py) reads the recovered file and the versions written after it.
      const got = spawnSync(PYTHON, ['-c', `import h5py, sys
f = h5py.File(sys.argv[1], 'r')
v = f['_version_data/versions']
print(sorted(k for k in v if k != '__first_version__'), float(v['n5/x'][7]), float(v['b3/x'][300]))`, p], { encoding: 'utf8' })
      t.is(got.stdout.trim(), "['b1', 'b2', 'b3', 'n4', 'n5'] 77.0 2.5", `point ${n}: h5py: ${got.stderr}`)
    }
  }
  t.true(finished, 'the sweep reached the end of the commit')
  t.true(points >= 10, `only ${points} points`)
  t.true(rolledBack >= points - afterCommit, `${rolledBack} roll-backs for ${points - afterCommit} interrupted commits`)
  t.log(`${points} abort points: ${points - afterCommit} before the commit point (each rolled back to the exact bytes), ${afterCommit} after it (while closing)`)
})
