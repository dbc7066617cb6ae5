// Opens the operating system refuses: a read-only file system (a tmpfs remounted
// read-only), missing permissions (an unprivileged opener: root bypasses file modes),
// and a directory where the journal `<file>.vh5-journal` goes. Each writable open fails
// at open() with a code (READ_ONLY, PERMISSION_DENIED, FILE_EXISTS), mode 'r' still
// reads where the file is readable, and nothing changes: the bytes are identical and no
// journal is left. Needs root (mount, setpriv), as CI runs; about 2 s.
import test from 'ava'
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { snapshot } from './support/snapshot.js'

const root = process.getuid?.() === 0
// Not root: mounting and dropping privileges are not possible; the tests say so
// instead of passing.
const run = root ? test.serial : test.skip
if (!root) console.error('open-faults.spec.ts: SKIPPED (needs root to mount a tmpfs and to run an unprivileged opener)')

const JOURNAL = '.vh5-journal'

async function makeFile(path: string) {
  const vf = VersionedFile.open(path, { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: new Float64Array([1, 2, 3, 4]), chunks: [2] }))
  await vf.stageVersion('v2', (g) => g.dataset('x').write([[0, 1]], new Float64Array([9])))
  vf.close()
}

function code(f: () => unknown): { code?: string; message: string } | null {
  try {
    const r = f() as { close?(): void } | undefined
    r?.close?.()
    return null
  } catch (e) {
    return e as { code?: string; message: string }
  }
}

/** Opens `path` with each of `modes` as user `nobody` (65534) in a child process. */
function asNobody(path: string, modes: string[]): Record<string, { code?: string; message?: string; versions?: string[] }> {
  const script = `
const { VersionedFile } = require(${JSON.stringify(join(__dirname, '..', 'index.js'))})
const out = {}
for (const mode of JSON.parse(process.argv[2])) {
  try {
    const vf = VersionedFile.open(process.argv[1], { mode })
    out[mode] = { versions: vf.versions, x: Array.from(vf.version(vf.currentVersion).dataset('x').readSync()) }
    vf.close()
  } catch (e) { out[mode] = { code: e.code, message: e.message } }
}
console.log(JSON.stringify(out))`
  const p = spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script, path, JSON.stringify(modes)],
    { encoding: 'utf8' },
  )
  if (p.status !== 0) throw new Error(`the unprivileged opener failed (exit ${p.status}): ${p.stderr}`)
  return JSON.parse(p.stdout)
}

function scratch(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `vh5-${tag}-`))
  chmodSync(dir, 0o755)
  return dir
}

run('a read-only file system: writable opens fail with READ_ONLY at open(), mode r reads, nothing changes', async (t) => {
  const dir = scratch('rofs')
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir])
  try {
    const path = join(dir, 'f.h5')
    await makeFile(path)
    const seen = snapshot(path)
    execFileSync('mount', ['-o', 'remount,ro', dir])
    const before = readFileSync(path)
    for (const mode of ['a', 'r+', 'w'] as const) {
      const e = code(() => VersionedFile.open(path, { mode }))
      t.is(e?.code, 'READ_ONLY', `mode ${mode}: ${e?.message}`)
      t.true(e?.message.includes(path) && e.message.includes("mode 'r'"), e?.message)
    }
    // A new file on it, too.
    const e = code(() => VersionedFile.open(join(dir, 'new.h5'), { mode: 'a' }))
    t.is(e?.code, 'READ_ONLY', e?.message)
    t.deepEqual(snapshot(path), seen, "mode 'r' reads every version")
    t.true(readFileSync(path).equals(before), 'the file is byte for byte unchanged')
    t.false(existsSync(path + JOURNAL))
    t.false(existsSync(join(dir, 'new.h5')))
  } finally {
    execFileSync('umount', [dir])
    rmSync(dir, { recursive: true, force: true })
  }
})

run('missing permissions: PERMISSION_DENIED at open() for a file or a directory the user may not write, mode r reads, nothing changes', async (t) => {
  const dir = scratch('perm')
  try {
    const path = join(dir, 'f.h5')
    await makeFile(path)
    const before = readFileSync(path)
    // Root's file (0644) in root's directory (0755): nobody may read, not write.
    let got = asNobody(path, ['a', 'r+', 'w', 'r'])
    for (const mode of ['a', 'r+', 'w']) {
      t.is(got[mode].code, 'PERMISSION_DENIED', `mode ${mode}: ${got[mode].message}`)
      t.true(got[mode].message?.includes(path), got[mode].message)
    }
    t.deepEqual(got.r.versions, ['v1', 'v2'], JSON.stringify(got.r))
    // The file writable by all, its directory not: the journal cannot go next to it.
    chmodSync(path, 0o666)
    got = asNobody(path, ['a', 'r+', 'w', 'r'])
    for (const mode of ['a', 'r+', 'w']) {
      t.is(got[mode].code, 'PERMISSION_DENIED', `mode ${mode}: ${got[mode].message}`)
      t.true(got[mode].message?.includes(path + JOURNAL), got[mode].message)
    }
    t.deepEqual(got.r.versions, ['v1', 'v2'])
    // A new file in that directory.
    const fresh = asNobody(join(dir, 'new.h5'), ['a'])
    t.is(fresh.a.code, 'PERMISSION_DENIED', fresh.a.message)
    t.true(readFileSync(path).equals(before), 'the file is byte for byte unchanged')
    t.false(existsSync(path + JOURNAL))
    t.false(existsSync(join(dir, 'new.h5')))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

run('a directory where the journal goes: FILE_EXISTS at open() (mode w empties nothing), mode r reads, nothing changes', async (t) => {
  const dir = scratch('jdir')
  try {
    const path = join(dir, 'f.h5')
    await makeFile(path)
    const seen = snapshot(path)
    mkdirSync(path + JOURNAL)
    const before = readFileSync(path)
    for (const mode of ['a', 'r+', 'w'] as const) {
      const e = code(() => VersionedFile.open(path, { mode }))
      t.is(e?.code, 'FILE_EXISTS', `mode ${mode}: ${e?.message}`)
      t.true(e?.message.includes(path + JOURNAL), e?.message)
    }
    const other = join(dir, 'g.h5')
    mkdirSync(other + JOURNAL)
    t.is(code(() => VersionedFile.open(other, { mode: 'a' }))?.code, 'FILE_EXISTS')
    t.false(existsSync(other), 'no new file was created')
    t.deepEqual(snapshot(path), seen, "mode 'r' reads every version")
    t.true(readFileSync(path).equals(before), 'the file is byte for byte unchanged')
    t.true(statSync(path + JOURNAL).isDirectory())
    // Moved away, the file opens for writing again.
    rmSync(path + JOURNAL, { recursive: true })
    const vf = VersionedFile.open(path, { mode: 'a' })
    await vf.stageVersion('v3', (g) => g.dataset('x').write([[1, 2]], new Float64Array([8])))
    t.deepEqual(vf.verifySync().problems, [])
    vf.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
