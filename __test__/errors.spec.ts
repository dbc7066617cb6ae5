// Every error code is reachable, asserted by code; the README lists exactly these codes.
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

import * as binding from '../index.js'
import { errorCodes, VersionedFile } from '../index.js'
import { ds, py, throwsCode, tmpFile } from './helpers.js'

const seen = new Set<string>()

async function expectCode(t: any, fn: () => unknown, code: string) {
  const e = await throwsCode(t, fn, code)
  t.true(e instanceof Error)
  t.true(e.message.length > 10, 'the message says what to do')
  seen.add(code)
}

async function fileWithX(): Promise<VersionedFile> {
  const vf = VersionedFile.open(tmpFile('err'), { mode: 'w' })
  await vf.stageVersion('v1', (g) => void g.createDataset('x', { data: new Float64Array([1, 2, 3, 4, 5]), chunks: [2] }))
  return vf
}

test.serial('argument and data errors', async (t) => {
  const vf = await fileWithX()
  await expectCode(t, () => vf.version('nope'), 'VERSION_NOT_FOUND')
  await expectCode(t, () => vf.stageVersion('v1', () => {}), 'VERSION_EXISTS')
  await expectCode(t, () => vf.versionAt(0n), 'NO_VERSION_AT_TIME')
  await expectCode(t, () => vf.stageVersion('bad/name', () => {}), 'INVALID_ARGUMENT')
  await expectCode(t, () => VersionedFile.open(42 as any), 'INVALID_ARGUMENT')
  await expectCode(t, () => ds(vf.version('v1'), 'x').readSync([1.5]), 'INVALID_ARGUMENT')
  await expectCode(t, () => ds(vf.version('v1'), 'x').read([[0, 5, 0]]), 'INVALID_ARGUMENT')
  await expectCode(t, () => vf.stageVersion('s', (g) => void g.createDataset('y', { data: [1, 2, 3], shape: [2] })), 'SHAPE_MISMATCH')
  await expectCode(t, () => vf.stageVersion('s', (g) => ds(g, 'x').write([[0, 2]], [1, 2, 3])), 'SHAPE_MISMATCH')
  await expectCode(t, () => ds(vf.version('v1'), 'x').read([5]), 'OUT_OF_BOUNDS')
  await expectCode(t, () => ds(vf.version('v1'), 'x').readSync([-6]), 'OUT_OF_BOUNDS')
  await expectCode(t, () => vf.stageVersion('s', (g) => ds(g, 'x').write(null, new Int32Array(5))), 'DTYPE_MISMATCH')
  await expectCode(t, () => vf.stageVersion('s', (g) => void g.createDataset('x', { data: new Int32Array(5), chunks: [2] })), 'DTYPE_MISMATCH')
  await expectCode(t, () => vf.stageVersion('s', (g) => void g.createDataset('z', { shape: [3], dtype: 'complex128' })), 'UNSUPPORTED_DTYPE')
  await expectCode(t, () => vf.version('v1').get('nope'), 'NOT_FOUND')
  await expectCode(t, () => vf.stageVersion('s', (g) => { g.createGroup('m'); g.createGroup('m') }), 'ALREADY_EXISTS')
  await expectCode(t, () => vf.stageVersion('s', (g) => void g.createDataset('x', { data: new Float64Array(5), chunks: [3] })), 'INCOMPATIBLE_DATASET')
  await expectCode(t, () => ds(vf.version('v1'), 'x').write([0], 1), 'READ_ONLY')
  await expectCode(t, () => vf.version('v1').attrs.set('a', 1), 'READ_ONLY')
  t.deepEqual(vf.versions, ['v1'], 'no failed stage left a version behind')
  vf.close()
  await expectCode(t, () => vf.versions, 'FILE_CLOSED')
})

test.serial('file errors', async (t) => {
  const missing = tmpFile('missing')
  await expectCode(t, () => VersionedFile.open(missing, { mode: 'r' }), 'FILE_NOT_FOUND')
  const vf = await fileWithX()
  vf.close()
  await expectCode(t, () => VersionedFile.open(vf.path, { mode: 'x' }), 'FILE_EXISTS')

  const plain = tmpFile('plain')
  py(`import h5py, sys; f = h5py.File(sys.argv[1], 'w'); f['data'] = [1, 2, 3]; print(1)`, plain)
  await expectCode(t, () => VersionedFile.open(plain, { mode: 'r' }), 'NOT_VERSIONED_FILE')
  const junk = tmpFile('junk')
  writeFileSync(junk, Buffer.from('this is not an HDF5 file at all'))
  await expectCode(t, () => VersionedFile.open(junk, { mode: 'a' }), 'NOT_VERSIONED_FILE')
  // 'a' initialises versioning in a plain HDF5 file, as Python does.
  const init = VersionedFile.open(plain, { mode: 'a' })
  t.is(init.currentVersion, '__first_version__')
  init.close()

  const setDv = (v: number) => {
    const p = tmpFile(`dv${v}`)
    VersionedFile.open(p, { mode: 'w' }).close()
    py(`import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f['_version_data/versions'].attrs['data_version'] = int(sys.argv[2]); print(1)`, p, String(v))
    return p
  }
  await expectCode(t, () => VersionedFile.open(setDv(5), { mode: 'r' }), 'UNSUPPORTED_FORMAT')
  await expectCode(t, () => VersionedFile.open(setDv(2), { mode: 'r' }), 'CORRUPT_FILE')
  await expectCode(t, () => VersionedFile.open(setDv(3), { mode: 'a' }), 'CORRUPT_FILE')

  // A raw_data cut short under a version: the read fails loudly, never returns fill values.
  const cut = await fileWithX()
  cut.close()
  py(`import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f['_version_data/x/raw_data'].resize((2,)); print(1)`, cut.path)
  const reopened = VersionedFile.open(cut.path, { mode: 'r' })
  await expectCode(t, () => ds(reopened.version('v1'), 'x').read(), 'CORRUPT_FILE')
  reopened.close()

  // A stored gzip chunk overwritten with garbage: libhdf5's filter fails, and so does the read.
  const gz = tmpFile('gz')
  const g = VersionedFile.open(gz, { mode: 'w' })
  await g.stageVersion('v1', (grp) => void grp.createDataset('z', { data: new Float64Array(4096).map((_, i) => i), compression: 'gzip' }))
  g.close()
  py(`import h5py, sys
f = h5py.File(sys.argv[1], 'r')
off = f['_version_data/z/raw_data'].id.get_chunk_info(0).byte_offset
f.close()
with open(sys.argv[1], 'r+b') as fh:
    fh.seek(off)
    fh.write(bytes([255]) * 64)
print(1)`, gz)
  const bad = VersionedFile.open(gz, { mode: 'r' })
  await expectCode(t, () => bad.version('v1').dataset('z').read(), 'HDF5_ERROR')
  bad.close()
})

test.serial('a second process opening the file for writing gets FILE_LOCKED', async (t) => {
  const vf = await fileWithX()
  vf.close()
  const child = spawn(process.execPath, ['-e', `
    const { VersionedFile } = require(${JSON.stringify(join(process.cwd(), 'index.js'))})
    const f = VersionedFile.open(${JSON.stringify(vf.path)}, { mode: 'a' })
    process.stdout.write('open\\n')
    setTimeout(() => f.close(), 20000)`], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve) => child.stdout!.once('data', resolve))
  await expectCode(t, () => VersionedFile.open(vf.path, { mode: 'a' }), 'FILE_LOCKED')
  child.kill()
})

test.serial('a full disk and a failing device fail a commit with NO_SPACE and IO_ERROR, naming the file and the cause', async (t) => {
  // The test build's fault injection (VH5_FAULT_AT / VH5_FAULT_ERRNO, h5/journal.rs)
  // fails one write of the commit in a child process; io-faults.spec.ts sweeps every one.
  const vf = await fileWithX()
  vf.close()
  for (const [errno, code] of [['ENOSPC', 'NO_SPACE'], ['EIO', 'IO_ERROR']]) {
    const r = spawnSync(process.execPath, ['-e', `
      const { VersionedFile } = require(${JSON.stringify(join(process.cwd(), 'index.js'))})
      const f = VersionedFile.open(${JSON.stringify(vf.path)}, { mode: 'a' })
      f.stageVersion('v2', (g) => g.dataset('x').write([[0, 5]], new Float64Array([9, 9, 9, 9, 9])))
        .then(() => process.stdout.write(JSON.stringify({ code: 'none' })))
        .catch((e) => process.stdout.write(JSON.stringify({ code: e.code, message: e.message })))
        .finally(() => f.close())`], { env: { ...process.env, VH5_FAULT_AT: '5', VH5_FAULT_ERRNO: errno }, encoding: 'utf8' })
    const got = JSON.parse(r.stdout || '{}') as { code?: string; message?: string }
    t.is(got.code, code, `${errno}: ${r.stdout} ${r.stderr}`)
    t.true(got.message?.includes(vf.path) && got.message.includes(errno), got.message)
    if (got.code === code) seen.add(code)
  }
})

test.serial('opening for writing a file the user may not write is PERMISSION_DENIED (open-faults.spec.ts covers more)', async (t) => {
  const vf = await fileWithX()
  vf.close()
  // Root bypasses file modes: as root, the opener runs as nobody; otherwise the file
  // is made read-only for its owner.
  const open = `
    const { VersionedFile } = require(${JSON.stringify(join(process.cwd(), 'index.js'))})
    try { VersionedFile.open(process.argv[1], { mode: 'a' }).close(); process.stdout.write('{}') }
    catch (e) { process.stdout.write(JSON.stringify({ code: e.code, message: e.message })) }`
  const root = process.getuid?.() === 0
  if (!root) chmodSync(vf.path, 0o444)
  const cmd = root ? 'setpriv' : process.execPath
  const args = root ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', open, vf.path] : ['-e', open, vf.path]
  // The helpers' directory is private to root; nobody needs to reach the file.
  if (root) chmodSync(dirname(vf.path), 0o755)
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  const got = JSON.parse(r.stdout || '{}') as { code?: string; message?: string }
  t.is(got.code, 'PERMISSION_DENIED', `${r.stdout} ${r.stderr}`)
  t.true(got.message?.includes(vf.path), got.message)
  if (got.code === 'PERMISSION_DENIED') seen.add(got.code)
})

test.serial('a panic inside the binding is an INTERNAL_ERROR, thrown or from a task, and the addon lives on', async (t) => {
  // `_panicForTest` exists in test builds only (the `test-hooks` feature npm test builds with).
  const hooks = binding as unknown as { _panicForTest(inTask?: boolean): Promise<void> | null }
  t.is(typeof hooks._panicForTest, 'function', 'built with the test-hooks feature')
  await expectCode(t, () => hooks._panicForTest(), 'INTERNAL_ERROR')
  await expectCode(t, () => hooks._panicForTest(true), 'INTERNAL_ERROR')
  const vf = await fileWithX()
  t.deepEqual(vf.versions, ['v1'], 'the addon still answers')
  vf.close()
})

test.serial('every code is produced above and listed in the README', (t) => {
  t.deepEqual([...seen].sort(), [...errorCodes()].sort())
  const readme = readFileSync(join(process.cwd(), 'README.md'), 'utf8')
  const listed = [...readme.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1])
  t.deepEqual([...listed].sort(), [...errorCodes()].sort())
})
