// History rewrites are atomic (docs/design/009-atomic-history-rewrites.md): a
// deleteVersions or modifyMetadata aborted just before each of its changes to the file
// in turn (VH5_FAULT_AT) leaves the file byte for byte as before, or (past its commit
// point) exactly as the rewrite run to its end leaves it; a change that fails with
// ENOSPC (VH5_FAULT_ERRNO) fails with NO_SPACE and leaves the file as before. Every
// abort point is visited; the ENOSPC sweeps take every second or third point. About
// 30 s (modifyMetadata's two sweeps about 10 s).
import test, { type ExecutionContext } from 'ava'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { ownListsFromTwoMappings, tmpFile } from './helpers.js'
import { snapshot } from './support/snapshot.js'

// Small datasets too take the path that encodes mapping lists here (design 033).
ownListsFromTwoMappings()

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { writeHistory, rewrite } = require('./crash/history-ops.js') as {
  writeHistory: (vf: VersionedFile) => Promise<void>
  rewrite: (vf: VersionedFile, op: string) => Promise<void>
}

const WRITER = join(__dirname, 'crash', 'history-writer.js')

function verifyClean(t: ExecutionContext, p: string, what: string): void {
  const vf = VersionedFile.open(p, { mode: 'r' })
  const rep = vf.verifySync()
  vf.close()
  if (!rep.ok) t.fail(`${what}: verify(): ${JSON.stringify(rep.problems.slice(0, 3))}`)
}

/** The base file, its bytes, what a reader sees of it, and of the rewrite run whole. */
async function fixtures(op: string): Promise<{ base: string; baseBytes: Buffer; before: unknown; after: unknown; wholeSize: number }> {
  const base = tmpFile(`${op}-base`)
  const vf = VersionedFile.open(base, { mode: 'w' })
  await writeHistory(vf)
  // A compaction has something to reclaim: the space of deleted versions.
  if (op === 'compact') await vf.deleteVersions(['h2', 'h4'])
  vf.close()
  const whole = tmpFile(`${op}-whole`)
  copyFileSync(base, whole)
  const wf = VersionedFile.open(whole, { mode: 'r+' })
  await rewrite(wf, op)
  wf.close()
  return { base, baseBytes: readFileSync(base), before: snapshot(base), after: snapshot(whole), wholeSize: readFileSync(whole).length }
}

async function abortSweep(t: ExecutionContext, op: string): Promise<void> {
  const { base, baseBytes, after, before, wholeSize } = await fixtures(op)
  // A compaction changes no version, only the file's size.
  if (op === 'compact') t.deepEqual(before, after)
  else t.notDeepEqual(before, after)
  let points = 0
  let afterCommit = 0
  let finished = false
  for (let n = 1; n <= 3000 && !finished; n++) {
    const p = tmpFile(op)
    copyFileSync(base, p)
    const r = spawnSync(process.execPath, [WRITER, p, op], { env: { ...process.env, VH5_FAULT_AT: String(n) }, encoding: 'utf8' })
    if (r.status === 0 && r.stdout.includes('closed\n')) {
      finished = true
      t.deepEqual(snapshot(p), after, 'the rewrite that ran to the end')
      t.false(existsSync(`${p}.vh5-journal`))
      break
    }
    if (r.signal !== 'SIGABRT') {
      t.fail(`point ${n}: the writer ended with ${r.status ?? r.signal}: ${r.stdout} ${r.stderr}`)
      break
    }
    points += 1
    const returned = r.stdout.includes('done\n')
    VersionedFile.open(p, { mode: 'r' }).close()
    t.false(existsSync(`${p}.vh5-journal`), `point ${n}: recovery removes the journal`)
    const now = readFileSync(p)
    if (op === 'compact' && !now.equals(baseBytes)) {
      // Past the rename: the new file, complete.
      afterCommit += 1
      t.is(now.length, wholeSize, `point ${n}: the compacted file`)
      t.deepEqual(snapshot(p), after, `point ${n}: the compacted file reads the same`)
    } else if (returned) {
      afterCommit += 1
      t.deepEqual(snapshot(p), after, `point ${n}: after the rewrite returned`)
    } else {
      t.true(now.equals(baseBytes), `point ${n}: the file is byte for byte what it was`)
    }
    verifyClean(t, p, `point ${n}`)
  }
  t.true(finished, 'the sweep reached the end of the rewrite')
  t.true(points >= 10, `only ${points} points`)
  t.log(`${op}: ${points} abort points, ${points - afterCommit} before the commit point (rolled back to the exact bytes), ${afterCommit} after it`)
}

async function enospcSweep(t: ExecutionContext, op: string, step: number): Promise<void> {
  const { base, baseBytes, before, after } = await fixtures(op)
  let failed = 0
  let finished = false
  for (let n = 1; n <= 3000 && !finished; n += step) {
    const p = tmpFile(`${op}-nospc`)
    copyFileSync(base, p)
    const r = spawnSync(process.execPath, [WRITER, p, op], { env: { ...process.env, VH5_FAULT_AT: String(n), VH5_FAULT_ERRNO: 'ENOSPC' }, encoding: 'utf8' })
    if (r.status === 3 && r.stderr.includes('NO_SPACE')) {
      // The open itself failed (it marks the superblock): nothing changed.
      t.true(readFileSync(p).equals(baseBytes), `point ${n}: a failed open changes nothing`)
      continue
    }
    if (r.status !== 0) {
      t.fail(`point ${n}: the writer ended with ${r.status ?? r.signal}: ${r.stdout} ${r.stderr}`)
      break
    }
    if (r.stdout.startsWith('done\n')) {
      if (!r.stdout.includes('closed\n')) {
        // The rewrite returned; the failed close rolls back to it at the next open.
        t.deepEqual(snapshot(p), after, `point ${n}: the rewrite returned, the close failed`)
        continue
      }
      finished = true
      t.deepEqual(snapshot(p), after)
      break
    }
    failed += 1
    t.true(r.stdout.startsWith('failed NO_SPACE\n'), `point ${n}: ${r.stdout}`)
    t.true(readFileSync(p).equals(baseBytes), `point ${n}: the file is byte for byte what it was`)
    t.deepEqual(snapshot(p), before)
    verifyClean(t, p, `point ${n}`)
  }
  t.true(finished, 'the sweep reached the end of the rewrite')
  t.true(failed >= 5, `only ${failed} failures`)
  t.log(`${op}: ENOSPC at ${failed} points (every ${step === 1 ? '' : step === 2 ? '2nd ' : step === 3 ? '3rd ' : `${step}th `}point), each NO_SPACE with the file unchanged`)
}

test.serial('deleteVersions aborted before each of its changes: the file as before or as after', (t) => abortSweep(t, 'delete'))
test.serial('deleteVersions with ENOSPC at every other change: NO_SPACE, the file unchanged', (t) => enospcSweep(t, 'delete', 2))
test.serial('modifyMetadata aborted before each of its changes: the file as before or as after', (t) => abortSweep(t, 'modify'))
test.serial('modifyMetadata with ENOSPC at every third change: NO_SPACE, the file unchanged', (t) => enospcSweep(t, 'modify', 3))
test.serial('compact killed before each of its changes: the old file or the new one, complete, no journal', (t) => abortSweep(t, 'compact'))
test.serial('compact with ENOSPC at every third change: NO_SPACE, the file unchanged', (t) => enospcSweep(t, 'compact', 3))
