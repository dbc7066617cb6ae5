// A real full file system (an 8 MiB tmpfs, mounted for the test; needs root, as CI
// runs): commits until NO_SPACE, several times; each failed commit leaves the file byte
// for byte as it was; once space is freed, commits work again, verify() is clean and
// h5py reads every version.
import test from 'ava'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { ownListsFromTwoMappings, PYTHON } from './helpers.js'

// Small datasets too take the path that encodes mapping lists here (design 033).
ownListsFromTwoMappings()

const root = process.getuid?.() === 0
const title = 'a full tmpfs: every commit past the space fails with NO_SPACE and changes nothing; after space is freed the same handle commits on'
// Not root: mounting a tmpfs is not possible, and the test says so instead of passing.
const run = root ? test.serial : test.skip
if (!root) console.error(`full-disk.spec.ts: SKIPPED (needs root to mount a tmpfs): ${title}`)

run(title, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vh5-full-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir])
  try {
    const path = join(dir, 'f.h5')
    // Ballast takes most of the space, so that the file fills the rest quickly, and is
    // removed later to free space.
    writeFileSync(join(dir, 'ballast'), Buffer.alloc(3 << 20, 1))
    const vf = VersionedFile.open(path, { mode: 'w' })
    let n = 0
    const chunk = (k: number) => new Float64Array(65536).map((_, i) => Math.sin(i + k * 1e6))
    await vf.stageVersion('v0', (g) => void g.createDataset('x', { shape: [0], dtype: 'float64', chunks: [65536], fillValue: 0 }))
    const committed: string[] = ['v0']
    let failures = 0
    let before = readFileSync(path)
    while (failures < 3 && n < 200) {
      n += 1
      const name = `v${n}`
      try {
        await vf.stageVersion(name, (g) => {
          const x = g.dataset('x')
          const len = x.shape[0]
          x.resize([len + 65536])
          x.write([[len, len + 65536]], chunk(n))
        })
        committed.push(name)
        before = readFileSync(path)
      } catch (e) {
        const err = e as Error & { code?: string }
        t.is(err.code, 'NO_SPACE', err.message)
        t.true(err.message.includes(path), err.message)
        failures += 1
        // Unchanged, byte for byte, with the handle open (it reopened the file).
        t.true(readFileSync(path).equals(before), `commit ${name}: the file is unchanged`)
        t.deepEqual(vf.versions, committed)
      }
    }
    t.is(failures, 3, `the file system filled up after ${committed.length} versions`)
    // Space is back: the same handle commits on.
    rmSync(join(dir, 'ballast'))
    await vf.stageVersion('after', (g) => {
      const x = g.dataset('x')
      x.resize([x.shape[0] + 65536])
      x.write([[x.shape[0] - 65536, x.shape[0]]], chunk(999))
    })
    vf.close()
    const w = VersionedFile.open(path, { mode: 'a' })
    t.false(w.recovered)
    t.deepEqual(w.versions, [...committed, 'after'])
    const rep = w.verifySync()
    t.deepEqual(rep.problems, [])
    const last = committed[committed.length - 1]
    const lastLen = (committed.length - 1) * 65536
    w.close()
    const got = spawnSync(PYTHON, ['-c', `import h5py, sys, json
f = h5py.File(sys.argv[1], 'r')
v = f['_version_data/versions']
print(json.dumps([sorted(k for k in v if k != '__first_version__'), v[sys.argv[2]]['x'].shape[0], float(v['after']['x'][-1])]))`, path, last], { encoding: 'utf8' })
    const [names, len, tail] = JSON.parse(got.stdout) as [string[], number, number]
    t.deepEqual(names, [...committed, 'after'].sort(), got.stderr)
    t.is(len, lastLen)
    t.is(tail, Math.sin(65535 + 999 * 1e6))
  } finally {
    execFileSync('umount', [dir])
    rmSync(dir, { recursive: true, force: true })
  }
})
