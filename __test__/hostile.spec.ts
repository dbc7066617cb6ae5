// Hostile input across the public API: every case must throw an Error with the stable
// `code` the README's table gives, leave the process alive, and leave the file exactly as
// it was (same versions, current version, history, version groups and raw_data rows).
//
// Each case runs against a fresh copy of one prepared file; afterwards the file is
// reopened read-only and compared with the prepared state (and `verifySync()` must pass).
// Cases that could take the whole process down (huge allocations) run in a child process,
// so a crash is reported as that case's failure instead of ending the test run.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'

import { VersionedFile, type Dataset, type StagedGroup } from '../index.js'
import { py, rawRows, tmpFile } from './helpers.js'

// ---------------------------------------------------------------------------------------
// The prepared file
// ---------------------------------------------------------------------------------------

const pristine = tmpFile('hostile-pristine')
const DATASETS = ['x', 'm', 's', 'b', 'i64', 'u64', 'i8', 'g/inner', 'sp', 'gz']

interface Snapshot {
  versions: string[]
  current: string
  history: { name: string; prevVersion: string; micros: string }[]
  versionGroups: string[]
  raw: Record<string, number>
  x: number[]
}

/** Every raw_data row count and every group under _version_data/versions, via h5py. */
function onDisk(path: string): { raw: Record<string, number>; versionGroups: string[] } {
  return py(
    `import h5py, json, sys
f = h5py.File(sys.argv[1], 'r')
vd = f['_version_data']
raw = {}
def walk(g, prefix):
    for k in g:
        if prefix == '' and k == 'versions':
            continue
        o = g[k]
        if isinstance(o, h5py.Group):
            if 'raw_data' in o and isinstance(o['raw_data'], h5py.Dataset):
                raw[prefix + k] = int(o['raw_data'].shape[0])
            walk(o, prefix + k + '/')
walk(vd, '')
print(json.dumps({'raw': raw, 'versionGroups': sorted(vd['versions'].keys())}))`,
    path,
  )
}

/** The state of the file as a fresh read-only handle and h5py see it. */
function snapshot(path: string): Snapshot & { verifyOk: boolean } {
  const vf = VersionedFile.open(path, { mode: 'r' })
  try {
    const x = Array.from(vf.version('v2').dataset('x').readSync() as Float64Array)
    return {
      versions: vf.versions,
      current: vf.currentVersion,
      history: vf.history().map((h) => ({ name: h.name, prevVersion: h.prevVersion, micros: String(h.timestampMicros) })),
      x,
      verifyOk: vf.verifySync().ok,
      ...onDisk(path),
    }
  } finally {
    vf.close()
  }
}

let before: Snapshot & { verifyOk: boolean }

test.before(async () => {
  const vf = VersionedFile.open(pristine, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    g.attrs.set('owner', 'me')
    const x = g.createDataset('x', { data: new Float64Array(10).map((_, i) => i), chunks: [4] })
    x.attrs.set('unit', 'm')
    g.createDataset('m', { data: new Int32Array(16).map((_, i) => i), shape: [4, 4], chunks: [2, 2] })
    g.createDataset('s', { data: A(['a', 'b', 'c', 'd']), chunks: [2] })
    g.createDataset('b', { data: new Uint8Array([0, 1, 0, 1]), dtype: 'bool', chunks: [2] })
    g.createDataset('i64', { data: new BigInt64Array([1n, 2n, 3n, 4n]), chunks: [2] })
    g.createDataset('u64', { data: new BigUint64Array([1n, 2n, 3n, 4n]), chunks: [2] })
    g.createDataset('i8', { data: new Int8Array([1, 2, 3, 4]), chunks: [2] })
    const grp = g.createGroup('g')
    grp.attrs.set('k', 1)
    grp.createDataset('inner', { data: new Float32Array([1, 2, 3]), chunks: [2] })
    g.createDataset('sp', { shape: [100], chunks: [10] })
    g.createDataset('gz', { data: new Float64Array(8).map((_, i) => i * 2), chunks: [4], compression: 'gzip', compressionLevel: 4 })
  }, { timestamp: '2024-01-01T00:00:00Z' })
  await vf.stageVersion('v2', (g) => g.dataset('x').write([[0, 2]], new Float64Array([100, 101])), { timestamp: '2024-01-02T00:00:00Z' })
  await vf.stageVersion('v3', (g) => g.dataset('m').write([0, 0], 99), { prevVersion: 'v1', makeCurrent: false, timestamp: '2024-01-03T00:00:00Z' })
  vf.close()
  before = snapshot(pristine)
})

test.serial('the prepared file: three versions, v2 current, raw_data rows agree with rawRows()', (t) => {
  t.deepEqual(before.versions, ['v1', 'v2', 'v3'])
  t.is(before.current, 'v2')
  t.true(before.verifyOk)
  t.deepEqual(Object.keys(before.raw).sort(), [...DATASETS].sort())
  for (const d of DATASETS) t.is(before.raw[d], rawRows(pristine, d), d)
  t.is(before.raw.x, 16, 'x: v1 stored 3 chunks of 4 rows, v2 one more')
  t.deepEqual(before.x, [100, 101, 2, 3, 4, 5, 6, 7, 8, 9])
})

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

interface Ctx {
  vf: VersionedFile
  path: string
}

interface Case {
  name: string
  /** The stable code the README gives for this input. */
  code: string
  /** How the shared file is open while the case runs (default 'a'; 'none': not open). */
  mode?: 'a' | 'r' | 'none'
  run?: (c: Ctx) => unknown
  /** Source run in a child node process instead (`vf` is the shared file opened 'a'). */
  child?: string
  /** Extra checks after the case. */
  after?: (t: any) => void
}

const A = (x: unknown) => x as any
const stage = (fn: (g: StagedGroup) => unknown, opts?: unknown) => (c: Ctx) => c.vf.stageVersion('hostile', fn as any, A(opts))
const onStaged = (path: string, fn: (d: Dataset) => unknown) => stage((g) => fn(g.dataset(path)))
const create = (opts: unknown, path: unknown = 'new') => stage((g) => void g.createDataset(A(path), A(opts)))
const committed = (path: string, fn: (d: Dataset) => unknown) => (c: Ctx) => fn(c.vf.version('v1').dataset(path))
const LONG = 'v'.repeat(100_000)
const MISSING_FILE = tmpFile('hostile-never-created')
const sel = (s: unknown) => A(s)

const cases: Case[] = [
  // ---- VersionedFile.open ------------------------------------------------------------
  { name: 'open: path is a number', code: 'INVALID_ARGUMENT', mode: 'none', run: () => VersionedFile.open(A(42)) },
  { name: 'open: path is undefined', code: 'INVALID_ARGUMENT', mode: 'none', run: () => VersionedFile.open(A(undefined)) },
  { name: 'open: path is null', code: 'INVALID_ARGUMENT', mode: 'none', run: () => VersionedFile.open(A(null)) },
  { name: 'open: path is an object', code: 'INVALID_ARGUMENT', mode: 'none', run: () => VersionedFile.open(A({ path: 'x.h5' })) },
  { name: 'open: path is a symbol', code: 'INVALID_ARGUMENT', mode: 'none', run: () => VersionedFile.open(A(Symbol('p'))) },
  { name: 'open: path is an array of strings', code: 'INVALID_ARGUMENT', mode: 'none', run: (c) => VersionedFile.open(A([c.path])) },
  { name: 'open: path with a NUL character', code: 'INVALID_ARGUMENT', mode: 'none', run: (c) => VersionedFile.open(c.path + '\0.h5', { mode: 'w' }) },
  { name: "open: unknown mode 'rw' on the shared file", code: 'INVALID_ARGUMENT', mode: 'none', run: (c) => VersionedFile.open(c.path, { mode: 'rw' }) },
  { name: "open: mode 'W' (wrong case) must not truncate", code: 'INVALID_ARGUMENT', mode: 'none', run: (c) => VersionedFile.open(c.path, { mode: 'W' }) },
  { name: "open: mode 'w ' (trailing space) must not truncate", code: 'INVALID_ARGUMENT', mode: 'none', run: (c) => VersionedFile.open(c.path, { mode: 'w ' }) },
  { name: "open: mode ''", code: 'INVALID_ARGUMENT', mode: 'none', run: (c) => VersionedFile.open(c.path, { mode: '' }) },
  { name: 'open: mode is a number', code: 'INVALID_ARGUMENT', mode: 'none', run: (c) => VersionedFile.open(c.path, A({ mode: 1 })) },
  { name: "open: options is the string 'w'", code: 'INVALID_ARGUMENT', mode: 'none', run: (c) => VersionedFile.open(c.path, A('w')) },
  {
    name: 'open: bad mode on a missing path creates no file',
    code: 'INVALID_ARGUMENT',
    mode: 'none',
    run: () => VersionedFile.open(MISSING_FILE, { mode: 'bogus' }),
    after: (t) => t.false(existsSync(MISSING_FILE), 'no file was created'),
  },

  // ---- stageVersion: names, builder, options ------------------------------------------
  { name: "stageVersion: empty name ''", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('', () => {}) },
  { name: "stageVersion: name with '/'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('a/b', () => {}) },
  { name: "stageVersion: name '/'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('/', () => {}) },
  { name: "stageVersion: name '__first_version__'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('__first_version__', () => {}) },
  { name: "stageVersion: name '.'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('.', () => {}) },
  { name: "stageVersion: name '..'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('..', () => {}) },
  { name: 'stageVersion: name with a NUL character', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('v\0x', () => {}) },
  { name: "stageVersion: 100,000-char name ending in '/'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion(LONG + '/', () => {}) },
  { name: 'stageVersion: name is a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion(A(7), () => {}) },
  { name: 'stageVersion: name is undefined', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion(A(undefined), () => {}) },
  { name: 'stageVersion: name is null', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion(A(null), () => {}) },
  { name: 'stageVersion: name is an array', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion(A(['v9']), () => {}) },
  { name: 'stageVersion: name is an object', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion(A({ name: 'v9' }), () => {}) },
  { name: "stageVersion: name taken ('v1')", code: 'VERSION_EXISTS', run: (c) => c.vf.stageVersion('v1', () => {}) },
  { name: 'stageVersion: builder is a string', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', A('() => {}')) },
  { name: 'stageVersion: builder is null', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', A(null)) },
  { name: 'stageVersion: builder is undefined', code: 'INVALID_ARGUMENT', run: (c) => A(c.vf).stageVersion('hostile') },
  { name: 'stageVersion: options is a string', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, A('v1')) },
  { name: 'stageVersion: options is a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, A(1)) },
  { name: 'stageVersion: unknown prevVersion', code: 'VERSION_NOT_FOUND', run: (c) => c.vf.stageVersion('hostile', () => {}, { prevVersion: 'nope' }) },
  { name: 'stageVersion: 100,000-char prevVersion', code: 'VERSION_NOT_FOUND', run: (c) => c.vf.stageVersion('hostile', () => {}, { prevVersion: LONG }) },
  { name: 'stageVersion: prevVersion is a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, A({ prevVersion: 1 })) },
  { name: 'stageVersion: prevVersion is an object', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, A({ prevVersion: { name: 'v1' } })) },
  { name: 'stageVersion: prevVersion is an array', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, A({ prevVersion: ['v1'] })) },
  { name: "stageVersion: makeCurrent is the string 'yes'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, A({ makeCurrent: 'yes' })) },
  { name: 'stageVersion: timestamp new Date(NaN)', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, { timestamp: new Date(NaN) }) },
  { name: "stageVersion: timestamp 'not a date'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, { timestamp: 'not a date' }) },
  { name: "stageVersion: timestamp ''", code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, { timestamp: '' }) },
  { name: 'stageVersion: timestamp month 13, day 45', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, { timestamp: '2024-13-45T00:00:00Z' }) },
  { name: 'stageVersion: timestamp with nanoseconds', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, { timestamp: '2024-05-01T00:00:00.123456789Z' }) },
  { name: 'stageVersion: timestamp is a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, A({ timestamp: 1714521600000 })) },
  { name: 'stageVersion: timestamp is an object', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, A({ timestamp: { micros: 1n } })) },
  { name: 'stageVersion: timestamp bigint 2^64', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, { timestamp: 2n ** 64n }) },
  { name: 'stageVersion: timestamp bigint -2^64', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, { timestamp: -(2n ** 64n) }) },
  { name: 'stageVersion: timestamp bigint -10^18 us (year -29719)', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, { timestamp: -(10n ** 18n) }) },
  { name: 'stageVersion: timestamp bigint 10^18 us (year 33658)', code: 'INVALID_ARGUMENT', run: (c) => c.vf.stageVersion('hostile', () => {}, { timestamp: 10n ** 18n }) },
  {
    name: 'stageVersion: builder throws after valid writes: nothing is stored',
    code: 'SHAPE_MISMATCH',
    run: stage((g) => {
      g.dataset('x').write(null, new Float64Array(10).fill(-7))
      g.createDataset('fresh', { data: new Float64Array([1, 2, 3]), chunks: [2] })
      g.dataset('x').write([[0, 2]], [1, 2, 3])
    }),
  },
  {
    name: 'stageVersion: async builder rejects after an await: nothing is stored',
    code: 'OUT_OF_BOUNDS',
    run: stage(async (g) => {
      g.dataset('m').write(null, 5)
      await new Promise((r) => setTimeout(r, 5))
      g.dataset('m').write([4, 0], 1)
    }),
  },

  // ---- version / versionAt / setCurrentVersion -----------------------------------------
  { name: 'version: unknown name', code: 'VERSION_NOT_FOUND', run: (c) => c.vf.version('nope') },
  { name: "version: '__first_version__' is not a committed version", code: 'VERSION_NOT_FOUND', run: (c) => c.vf.version('__first_version__') },
  { name: 'version: 100,000-char name', code: 'VERSION_NOT_FOUND', run: (c) => c.vf.version(LONG) },
  { name: 'version: -1000 (past the first version)', code: 'VERSION_NOT_FOUND', run: (c) => c.vf.version(-1000) },
  { name: 'version: 1.5', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(1.5) },
  { name: 'version: -0.5', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(-0.5) },
  { name: 'version: NaN', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(NaN) },
  { name: 'version: Infinity', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(Infinity) },
  { name: 'version: -Infinity', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(-Infinity) },
  { name: 'version: null', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(A(null)) },
  { name: 'version: undefined', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(A(undefined)) },
  { name: 'version: an object', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(A({ name: 'v1' })) },
  { name: 'version: a function', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(A(() => 'v1')) },
  { name: 'version: a symbol', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(A(Symbol('v1'))) },
  { name: "version: an array ['v1']", code: 'INVALID_ARGUMENT', run: (c) => c.vf.version(A(['v1'])) },
  { name: 'versionAt: new Date(NaN)', code: 'INVALID_ARGUMENT', run: (c) => c.vf.versionAt(new Date(NaN)) },
  { name: "versionAt: 'not a date'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.versionAt('not a date') },
  { name: 'versionAt: a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.versionAt(A(1714521600000)) },
  { name: 'versionAt: null', code: 'INVALID_ARGUMENT', run: (c) => c.vf.versionAt(A(null)) },
  { name: 'versionAt: an object', code: 'INVALID_ARGUMENT', run: (c) => c.vf.versionAt(A({})) },
  { name: 'versionAt: bigint 2^64', code: 'INVALID_ARGUMENT', run: (c) => c.vf.versionAt(2n ** 64n) },
  { name: 'versionAt: bigint -2^64', code: 'INVALID_ARGUMENT', run: (c) => c.vf.versionAt(-(2n ** 64n)) },
  { name: "versionAt: exact is the string 'yes'", code: 'INVALID_ARGUMENT', run: (c) => c.vf.versionAt('2024-01-01T00:00:00Z', A({ exact: 'yes' })) },
  { name: 'versionAt: exact miss', code: 'NO_VERSION_AT_TIME', run: (c) => c.vf.versionAt('2024-01-01T12:00:00Z', { exact: true }) },
  { name: 'versionAt: before the first version', code: 'NO_VERSION_AT_TIME', run: (c) => c.vf.versionAt(new Date('2023-06-01T00:00:00Z')) },
  { name: 'setCurrentVersion: unknown name', code: 'VERSION_NOT_FOUND', run: (c) => c.vf.setCurrentVersion('nope') },
  { name: 'setCurrentVersion: 100,000-char name', code: 'VERSION_NOT_FOUND', run: (c) => c.vf.setCurrentVersion(LONG) },
  { name: 'setCurrentVersion: a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.setCurrentVersion(A(1)) },
  { name: 'setCurrentVersion: undefined', code: 'INVALID_ARGUMENT', run: (c) => c.vf.setCurrentVersion(A(undefined)) },
  { name: 'setCurrentVersion: an object', code: 'INVALID_ARGUMENT', run: (c) => c.vf.setCurrentVersion(A({ name: 'v1' })) },
  { name: "setCurrentVersion: on a file opened 'r'", code: 'READ_ONLY', mode: 'r', run: (c) => c.vf.setCurrentVersion('v1') },
  { name: "stageVersion: on a file opened 'r'", code: 'READ_ONLY', mode: 'r', run: (c) => c.vf.stageVersion('hostile', () => {}) },

  // ---- createDataset: paths and options --------------------------------------------------
  { name: 'createDataset: options undefined', code: 'INVALID_ARGUMENT', run: create(undefined) },
  { name: 'createDataset: options null', code: 'INVALID_ARGUMENT', run: create(null) },
  { name: 'createDataset: options is a string', code: 'INVALID_ARGUMENT', run: create('float64') },
  { name: 'createDataset: neither data nor shape', code: 'INVALID_ARGUMENT', run: create({ dtype: 'float64' }) },
  { name: "createDataset: path ''", code: 'INVALID_ARGUMENT', run: create({ shape: [3] }, '') },
  { name: "createDataset: absolute path '/abs'", code: 'INVALID_ARGUMENT', run: create({ shape: [3] }, '/abs') },
  { name: 'createDataset: path is a number', code: 'INVALID_ARGUMENT', run: create({ shape: [3] }, 42) },
  { name: 'createDataset: path with a NUL character', code: 'INVALID_ARGUMENT', run: create({ shape: [3] }, 'a\0b') },
  { name: "createDataset: reserved name 'versions'", code: 'INVALID_ARGUMENT', run: create({ shape: [3] }, 'versions') },
  { name: 'createDataset: path of an existing group', code: 'ALREADY_EXISTS', run: create({ shape: [3] }, 'g') },
  { name: 'createDataset: shape [NaN]', code: 'INVALID_ARGUMENT', run: create({ shape: [NaN] }) },
  { name: 'createDataset: shape [Infinity]', code: 'INVALID_ARGUMENT', run: create({ shape: [Infinity] }) },
  { name: 'createDataset: shape [-1]', code: 'INVALID_ARGUMENT', run: create({ shape: [-1] }) },
  { name: 'createDataset: shape [1.5]', code: 'INVALID_ARGUMENT', run: create({ shape: [1.5] }) },
  { name: 'createDataset: shape [2^53 + 2]', code: 'INVALID_ARGUMENT', run: create({ shape: [2 ** 53 + 2], chunks: [4] }) },
  { name: 'createDataset: shape [2^40, 2^40] (2^80 elements)', code: 'INVALID_ARGUMENT', run: create({ shape: [2 ** 40, 2 ** 40], chunks: [1, 1] }) },
  { name: 'createDataset: shape [2^32]*3 (2^96 elements)', code: 'INVALID_ARGUMENT', run: create({ shape: [2 ** 32, 2 ** 32, 2 ** 32], chunks: [1, 1, 1] }) },
  { name: 'createDataset: shape [] (rank 0)', code: 'INVALID_ARGUMENT', run: create({ shape: [] }) },
  { name: "createDataset: shape is the string '3'", code: 'INVALID_ARGUMENT', run: create({ shape: '3' }) },
  { name: 'createDataset: shape is a number', code: 'INVALID_ARGUMENT', run: create({ shape: 3 }) },
  { name: 'createDataset: shape [[3]] (nested)', code: 'INVALID_ARGUMENT', run: create({ shape: [[3]] }) },
  { name: 'createDataset: chunks [0]', code: 'INVALID_ARGUMENT', run: create({ shape: [10], chunks: [0] }) },
  { name: 'createDataset: chunks [-4]', code: 'INVALID_ARGUMENT', run: create({ shape: [10], chunks: [-4] }) },
  { name: 'createDataset: chunks [NaN]', code: 'INVALID_ARGUMENT', run: create({ shape: [10], chunks: [NaN] }) },
  { name: 'createDataset: chunks [Infinity]', code: 'INVALID_ARGUMENT', run: create({ shape: [10], chunks: [Infinity] }) },
  { name: 'createDataset: chunks [2.5]', code: 'INVALID_ARGUMENT', run: create({ shape: [10], chunks: [2.5] }) },
  { name: 'createDataset: chunks [2^40] (past the HDF5 chunk limit)', code: 'INVALID_ARGUMENT', run: create({ shape: [10], chunks: [2 ** 40] }) },
  { name: 'createDataset: chunks of rank 2 for 1-D data', code: 'INVALID_ARGUMENT', run: create({ shape: [10], chunks: [2, 2] }) },
  { name: 'createDataset: chunks is a number', code: 'INVALID_ARGUMENT', run: create({ shape: [10], chunks: 4 }) },
  { name: 'createDataset: chunks [0, 2] for 2-D', code: 'INVALID_ARGUMENT', run: create({ shape: [4, 4], chunks: [0, 2] }) },
  { name: 'createDataset: 2-D shape without chunks', code: 'INVALID_ARGUMENT', run: create({ shape: [4, 4] }) },
  { name: "createDataset: dtype 'complex128'", code: 'UNSUPPORTED_DTYPE', run: create({ shape: [3], dtype: 'complex128' }) },
  { name: "createDataset: dtype 'U10'", code: 'UNSUPPORTED_DTYPE', run: create({ shape: [3], dtype: 'U10' }) },
  { name: "createDataset: dtype 'object'", code: 'UNSUPPORTED_DTYPE', run: create({ shape: [3], dtype: 'object' }) },
  { name: "createDataset: dtype ''", code: 'UNSUPPORTED_DTYPE', run: create({ shape: [3], dtype: '' }) },
  { name: "createDataset: dtype '>f8' (big-endian)", code: 'UNSUPPORTED_DTYPE', run: create({ shape: [3], dtype: '>f8' }) },
  { name: "createDataset: dtype 'int128'", code: 'UNSUPPORTED_DTYPE', run: create({ shape: [3], dtype: 'int128' }) },
  { name: 'createDataset: dtype is a number', code: 'INVALID_ARGUMENT', run: create({ shape: [3], dtype: 8 }) },
  { name: 'createDataset: dtype is an object', code: 'INVALID_ARGUMENT', run: create({ shape: [3], dtype: { kind: 'f' } }) },
  { name: "createDataset: compression 'zstd'", code: 'INVALID_ARGUMENT', run: create({ shape: [3], compression: 'zstd' }) },
  { name: 'createDataset: compression is a number', code: 'INVALID_ARGUMENT', run: create({ shape: [3], compression: 1 }) },
  { name: 'createDataset: gzip level 10', code: 'INVALID_ARGUMENT', run: create({ shape: [3], compression: 'gzip', compressionLevel: 10 }) },
  { name: 'createDataset: gzip level -1', code: 'INVALID_ARGUMENT', run: create({ shape: [3], compression: 'gzip', compressionLevel: -1 }) },
  { name: 'createDataset: gzip level NaN', code: 'INVALID_ARGUMENT', run: create({ shape: [3], compression: 'gzip', compressionLevel: NaN }) },
  { name: 'createDataset: gzip level Infinity', code: 'INVALID_ARGUMENT', run: create({ shape: [3], compression: 'gzip', compressionLevel: Infinity }) },
  { name: 'createDataset: gzip level 4.5', code: 'INVALID_ARGUMENT', run: create({ shape: [3], compression: 'gzip', compressionLevel: 4.5 }) },
  { name: "createDataset: gzip level '4'", code: 'INVALID_ARGUMENT', run: create({ shape: [3], compression: 'gzip', compressionLevel: '4' }) },
  { name: "createDataset: hash 'md5'", code: 'INVALID_ARGUMENT', run: create({ shape: [3], hash: 'md5' }) },
  { name: 'createDataset: hash is a number', code: 'INVALID_ARGUMENT', run: create({ shape: [3], hash: 256 }) },
  { name: "createDataset: shuffle 'yes'", code: 'INVALID_ARGUMENT', run: create({ shape: [3], shuffle: 'yes' }) },
  { name: 'createDataset: fletcher32 is a number', code: 'INVALID_ARGUMENT', run: create({ shape: [3], fletcher32: 1 }) },
  { name: 'createDataset: fillValue is an object', code: 'INVALID_ARGUMENT', run: create({ shape: [3], fillValue: { v: 1 } }) },
  { name: 'createDataset: fillValue is an array', code: 'INVALID_ARGUMENT', run: create({ shape: [3], fillValue: [1] }) },
  { name: "createDataset: fillValue 'abc' for float64", code: 'DTYPE_MISMATCH', run: create({ shape: [3], fillValue: 'abc' }) },
  { name: 'createDataset: fillValue 1.5 for int32', code: 'DTYPE_MISMATCH', run: create({ shape: [3], dtype: 'int32', fillValue: 1.5 }) },
  { name: 'createDataset: data length 3, shape [2]', code: 'SHAPE_MISMATCH', run: create({ data: [1, 2, 3], shape: [2] }) },
  { name: 'createDataset: data length 5, shape [2, 2]', code: 'SHAPE_MISMATCH', run: create({ data: new Float64Array(5), shape: [2, 2], chunks: [2, 2] }) },
  { name: 'createDataset: Int32Array data with dtype float64', code: 'DTYPE_MISMATCH', run: create({ data: new Int32Array(3), dtype: 'float64' }) },
  { name: 'createDataset: Float64Array data with dtype int32', code: 'DTYPE_MISMATCH', run: create({ data: new Float64Array(3), dtype: 'int32' }) },
  { name: 'createDataset: strings with dtype float64', code: 'DTYPE_MISMATCH', run: create({ data: ['a', 'b'], dtype: 'float64' }) },
  { name: 'createDataset: numbers with dtype string', code: 'DTYPE_MISMATCH', run: create({ data: [1, 2], dtype: 'string' }) },
  { name: 'createDataset: number among strings (no dtype)', code: 'DTYPE_MISMATCH', run: create({ data: ['a', 1] }) },
  { name: 'createDataset: 1.5 into int32', code: 'DTYPE_MISMATCH', run: create({ data: [1, 1.5], dtype: 'int32' }) },
  { name: 'createDataset: NaN into int32', code: 'DTYPE_MISMATCH', run: create({ data: [NaN], dtype: 'int32' }) },
  { name: 'createDataset: 300 into int8', code: 'DTYPE_MISMATCH', run: create({ data: [300], dtype: 'int8' }) },
  { name: 'createDataset: bool data [0, 1, 2]', code: 'DTYPE_MISMATCH', run: create({ data: [0, 1, 2], dtype: 'bool' }) },
  { name: 'createDataset: bool Uint8Array with a 255', code: 'DTYPE_MISMATCH', run: create({ data: new Uint8Array([0, 255]), dtype: 'bool' }) },
  { name: 'createDataset: bigint 2^64 into uint64', code: 'INVALID_ARGUMENT', run: create({ data: [2n ** 64n], dtype: 'uint64' }) },
  { name: 'createDataset: bigint -1 into uint64', code: 'INVALID_ARGUMENT', run: create({ data: [-1n], dtype: 'uint64' }) },
  { name: 'createDataset: bigint 2^63 into int64', code: 'INVALID_ARGUMENT', run: create({ data: [2n ** 63n], dtype: 'int64' }) },
  { name: 'createDataset: data is a plain object', code: 'INVALID_ARGUMENT', run: create({ data: { 0: 1, length: 1 } }) },
  { name: 'createDataset: data is a function', code: 'INVALID_ARGUMENT', run: create({ data: () => [1] }) },
  { name: 'createDataset: data is a DataView', code: 'INVALID_ARGUMENT', run: create({ data: new DataView(new ArrayBuffer(8)) }) },
  { name: 'createDataset: data nested [[1, 2], [3, 4]]', code: 'INVALID_ARGUMENT', run: create({ data: [[1, 2], [3, 4]], shape: [2, 2], chunks: [2, 2] }) },
  { name: 'createDataset: data [{}]', code: 'INVALID_ARGUMENT', run: create({ data: [{}] }) },
  { name: 'createDataset: data [null]', code: 'INVALID_ARGUMENT', run: create({ data: [null] }) },
  { name: 'createDataset: data [Symbol()]', code: 'INVALID_ARGUMENT', run: create({ data: [Symbol('d')] }) },
  { name: "createDataset: re-create 'x' with other chunks", code: 'INCOMPATIBLE_DATASET', run: create({ data: new Float64Array(10), chunks: [5] }, 'x') },
  { name: "createDataset: re-create 'x' with gzip", code: 'INCOMPATIBLE_DATASET', run: create({ data: new Float64Array(10), chunks: [4], compression: 'gzip' }, 'x') },
  { name: "createDataset: re-create 'x' as int32", code: 'DTYPE_MISMATCH', run: create({ data: new Int32Array(10), chunks: [4] }, 'x') },

  // ---- createGroup -------------------------------------------------------------------
  { name: "createGroup: ''", code: 'INVALID_ARGUMENT', run: stage((g) => g.createGroup('')) },
  { name: "createGroup: absolute '/abs'", code: 'INVALID_ARGUMENT', run: stage((g) => g.createGroup('/abs')) },
  { name: 'createGroup: a number', code: 'INVALID_ARGUMENT', run: stage((g) => g.createGroup(A(3))) },
  { name: 'createGroup: undefined', code: 'INVALID_ARGUMENT', run: stage((g) => g.createGroup(A(undefined))) },
  { name: 'createGroup: an object', code: 'INVALID_ARGUMENT', run: stage((g) => g.createGroup(A({ path: 'q' }))) },
  { name: 'createGroup: a NUL character', code: 'INVALID_ARGUMENT', run: stage((g) => g.createGroup('a\0b')) },
  { name: "createGroup: existing group 'g'", code: 'ALREADY_EXISTS', run: stage((g) => g.createGroup('g')) },
  { name: "createGroup: existing dataset 'x'", code: 'ALREADY_EXISTS', run: stage((g) => g.createGroup('x')) },

  // ---- get / dataset / group / has / keys / delete ------------------------------------
  { name: 'Version.get: a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').get(A(1)) },
  { name: 'Version.get: undefined', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').get(A(undefined)) },
  { name: 'Version.get: an object', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').get(A({ path: 'x' })) },
  { name: 'Version.get: missing path', code: 'NOT_FOUND', run: (c) => c.vf.version('v1').get('nope') },
  { name: 'Version.get: path below a dataset', code: 'NOT_FOUND', run: (c) => c.vf.version('v1').get('x/deeper') },
  { name: 'Version.dataset: a group', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').dataset('g') },
  { name: 'Version.group: a dataset', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').group('x') },
  { name: 'Version.has: undefined', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').has(A(undefined)) },
  { name: 'Version.has: a symbol', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').has(A(Symbol('x'))) },
  { name: 'Version.keys: missing group', code: 'NOT_FOUND', run: (c) => c.vf.version('v1').keys('nope') },
  { name: 'Version.keys: a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').keys(A(5)) },
  { name: 'Group.get: a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').group('g').get(A(0)) },
  { name: 'Group.dataset: missing', code: 'NOT_FOUND', run: (c) => c.vf.version('v1').group('g').dataset('nope') },
  { name: 'StagedGroup.get: missing path', code: 'NOT_FOUND', run: stage((g) => g.get('nope')) },
  { name: 'StagedGroup.get: an array', code: 'INVALID_ARGUMENT', run: stage((g) => g.get(A(['x']))) },
  { name: 'StagedGroup.dataset: a group', code: 'INVALID_ARGUMENT', run: stage((g) => g.dataset('g')) },
  { name: 'StagedGroup.group: a dataset', code: 'INVALID_ARGUMENT', run: stage((g) => g.group('x')) },
  { name: 'StagedGroup.has: null', code: 'INVALID_ARGUMENT', run: stage((g) => g.has(A(null))) },
  { name: 'StagedGroup.delete: missing path', code: 'NOT_FOUND', run: stage((g) => g.delete('nope')) },
  { name: 'StagedGroup.delete: a number', code: 'INVALID_ARGUMENT', run: stage((g) => g.delete(A(1))) },
  { name: 'StagedGroup.delete: a function', code: 'INVALID_ARGUMENT', run: stage((g) => g.delete(A(() => 'x'))) },
  {
    name: 'StagedGroup.delete then dataset(): the deleted path is gone',
    code: 'NOT_FOUND',
    run: stage((g) => {
      g.delete('x')
      g.dataset('x')
    }),
  },

  // ---- Dataset.read / readSync ---------------------------------------------------------
  { name: 'read: index NaN', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read([NaN])) },
  { name: 'readSync: index Infinity', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.readSync([Infinity])) },
  { name: 'readSync: index -Infinity', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.readSync([-Infinity])) },
  { name: 'read: index 2.5', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read([2.5])) },
  { name: 'read: index past the end', code: 'OUT_OF_BOUNDS', run: committed('x', (d) => d.read([10])) },
  { name: 'readSync: negative index past the start', code: 'OUT_OF_BOUNDS', run: committed('x', (d) => d.readSync([-11])) },
  { name: 'read: step 0', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read([[0, 10, 0]])) },
  { name: 'readSync: step -1', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.readSync([[9, 0, -1]])) },
  { name: 'read: step NaN', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read([[0, 10, NaN]])) },
  { name: 'read: slice start 0.5', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read([[0.5, 3]])) },
  { name: 'readSync: { step: 0 }', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.readSync([{ step: 0 }])) },
  { name: 'readSync: { start: NaN }', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.readSync([{ start: NaN }])) },
  { name: 'read: slice with 4 entries', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read(sel([[0, 1, 1, 1]]))) },
  { name: 'read: empty slice []', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read(sel([[]]))) },
  { name: 'read: two axes on 1-D data', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read([0, 0])) },
  { name: 'readSync: three axes on 2-D data', code: 'INVALID_ARGUMENT', run: committed('m', (d) => d.readSync([0, 0, 0])) },
  { name: 'read: index list with 1.5', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read([{ indices: [0, 1.5] }])) },
  { name: 'readSync: index list with NaN', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.readSync([{ indices: [NaN] }])) },
  { name: 'read: index list past the end', code: 'OUT_OF_BOUNDS', run: committed('x', (d) => d.read([{ indices: [0, 10] }])) },
  { name: "read: index list is a string", code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read(sel([{ indices: '01' }]))) },
  { name: 'read: two index lists in one selection', code: 'INVALID_ARGUMENT', run: committed('m', (d) => d.read([{ indices: [0, 1] }, { indices: [1] }])) },
  { name: 'read: selection is a string', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read(sel('0:3'))) },
  { name: 'readSync: selection is a number', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.readSync(sel(3))) },
  { name: 'read: axis entry is a boolean', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read(sel([true]))) },
  { name: 'read: axis entry is a symbol', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read(sel([Symbol('i')]))) },
  { name: 'read: axis entry is a string', code: 'INVALID_ARGUMENT', run: committed('x', (d) => d.read(sel(['1']))) },

  // ---- Dataset.write (staging) -----------------------------------------------------------
  { name: 'write: 3 values into a 2-element slice', code: 'SHAPE_MISMATCH', run: onStaged('x', (d) => d.write([[0, 2]], [1, 2, 3])) },
  { name: 'write: 9 values over 10 elements', code: 'SHAPE_MISMATCH', run: onStaged('x', (d) => d.write(null, new Float64Array(9))) },
  { name: 'write: 2 values into start > stop (empty slice)', code: 'SHAPE_MISMATCH', run: onStaged('x', (d) => d.write([[3, 1]], [1, 2])) },
  { name: 'write: 3 values into a 2x2 block', code: 'SHAPE_MISMATCH', run: onStaged('m', (d) => d.write([[0, 2], [0, 2]], [1, 2, 3])) },
  { name: 'write: Int32Array into float64', code: 'DTYPE_MISMATCH', run: onStaged('x', (d) => d.write(null, new Int32Array(10))) },
  { name: 'write: Float32Array into float64', code: 'DTYPE_MISMATCH', run: onStaged('x', (d) => d.write(null, new Float32Array(10))) },
  { name: 'write: a string into float64', code: 'DTYPE_MISMATCH', run: onStaged('x', (d) => d.write([0], 'abc')) },
  { name: 'write: numbers into a string dataset', code: 'DTYPE_MISMATCH', run: onStaged('s', (d) => d.write([[0, 2]], [1, 2])) },
  { name: 'write: a bigint into a string dataset', code: 'DTYPE_MISMATCH', run: onStaged('s', (d) => d.write([0], 1n)) },
  { name: 'write: bool Uint8Array with a 2', code: 'DTYPE_MISMATCH', run: onStaged('b', (d) => d.write(null, new Uint8Array([0, 1, 2, 1]))) },
  { name: 'write: bool value 2', code: 'DTYPE_MISMATCH', run: onStaged('b', (d) => d.write([0], 2)) },
  { name: 'write: bool value 0.5', code: 'DTYPE_MISMATCH', run: onStaged('b', (d) => d.write([0], 0.5)) },
  { name: 'write: 128 into int8', code: 'DTYPE_MISMATCH', run: onStaged('i8', (d) => d.write([0], 128)) },
  { name: 'write: Float64Array into int64', code: 'DTYPE_MISMATCH', run: onStaged('i64', (d) => d.write(null, new Float64Array(4))) },
  { name: 'write: bigint 2^63 into int64', code: 'INVALID_ARGUMENT', run: onStaged('i64', (d) => d.write([0], 2n ** 63n)) },
  { name: 'write: bigint -1 into uint64', code: 'INVALID_ARGUMENT', run: onStaged('u64', (d) => d.write([0], -1n)) },
  { name: 'write: bigint 2^64 into uint64', code: 'INVALID_ARGUMENT', run: onStaged('u64', (d) => d.write([0], 2n ** 64n)) },
  { name: 'write: data undefined', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([0], A(undefined))) },
  { name: 'write: data null', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([0], A(null))) },
  { name: 'write: data is an object', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([0], A({ value: 1 }))) },
  { name: 'write: data is a function', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([0], A(() => 1))) },
  { name: 'write: data is a symbol', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([0], A(Symbol('v')))) },
  { name: 'write: nested array data', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.write([[0, 2], [0, 2]], A([[1, 2], [3, 4]]))) },
  { name: 'write: index past the end', code: 'OUT_OF_BOUNDS', run: onStaged('x', (d) => d.write([10], 1)) },
  { name: 'write: negative index past the start', code: 'OUT_OF_BOUNDS', run: onStaged('x', (d) => d.write([-11], 1)) },
  { name: 'write: index NaN', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([NaN], 1)) },
  { name: 'write: index Infinity', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([Infinity], 1)) },
  { name: 'write: index 0.5', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([0.5], 1)) },
  { name: 'write: step 0', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([[0, 10, 0]], 1)) },
  { name: 'write: step -2', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([[9, 0, -2]], 1)) },
  { name: 'write: two axes on 1-D data', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([0, 0], 1)) },
  { name: 'write: index list with 1.5', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write([{ indices: [0, 1.5] }], [1, 2])) },
  { name: 'write: index list past the end', code: 'OUT_OF_BOUNDS', run: onStaged('x', (d) => d.write([{ indices: [0, 10] }], [1, 2])) },
  { name: 'write: two index lists in one selection', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.write([{ indices: [0] }, { indices: [0] }], 1)) },
  { name: 'write: selection is a string', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.write(sel('0:2'), 1)) },
  { name: 'write: to a committed version', code: 'READ_ONLY', run: committed('x', (d) => d.write([0], 1)) },

  // ---- Dataset.resize (staging) ----------------------------------------------------------
  { name: 'resize: NaN', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.resize(NaN)) },
  { name: 'resize: Infinity', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.resize(Infinity)) },
  { name: 'resize: -1', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.resize(-1)) },
  { name: 'resize: 1.5', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.resize(1.5)) },
  { name: 'resize: [2^53 + 2]', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.resize([2 ** 53 + 2])) },
  { name: 'resize: 2-D to [2^40, 2^40] (2^80 elements)', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize([2 ** 40, 2 ** 40])) },
  { name: "resize: the string '10'", code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.resize(A('10'))) },
  { name: 'resize: null', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.resize(A(null))) },
  { name: 'resize: an object', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.resize(A({ n: 5 }))) },
  { name: 'resize: rank 2 for 1-D data', code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.resize([3, 3])) },
  { name: 'resize: rank 1 for 2-D data', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize([4])) },
  { name: 'resize: a number on 2-D data without axis', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize(6)) },
  { name: 'resize: [NaN, 4] on 2-D data', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize([NaN, 4])) },
  { name: 'resize: axis NaN', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize(6, { axis: NaN })) },
  { name: 'resize: axis 0.5', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize(6, { axis: 0.5 })) },
  { name: 'resize: axis Infinity', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize(6, { axis: Infinity })) },
  { name: "resize: axis '0'", code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize(6, A({ axis: '0' }))) },
  { name: 'resize: an array together with axis', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize([6], { axis: 0 })) },
  { name: 'resize: size NaN with axis 0', code: 'INVALID_ARGUMENT', run: onStaged('m', (d) => d.resize(NaN, { axis: 0 })) },
  { name: 'resize: a committed dataset', code: 'READ_ONLY', run: committed('x', (d) => d.resize(20)) },

  // ---- attrs -------------------------------------------------------------------------
  { name: "attrs.set: name ''", code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('', 1)) },
  { name: 'attrs.set: name is a number', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set(A(1), 1)) },
  { name: 'attrs.set: name with a NUL character', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a\0b', 1)) },
  { name: "attrs.set: reserved 'prev_version' on the version", code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('prev_version', 'v1')) },
  { name: "attrs.set: reserved 'committed' on the version", code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('committed', true)) },
  { name: "attrs.set: reserved 'timestamp' on the version", code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('timestamp', '2024-01-01 00:00:00.000000+0000')) },
  { name: "attrs.set: reserved 'raw_data' on a dataset", code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.attrs.set('raw_data', '/elsewhere')) },
  { name: "attrs.set: reserved 'chunks' on a dataset", code: 'INVALID_ARGUMENT', run: onStaged('x', (d) => d.attrs.set('chunks', [1])) },
  { name: 'attrs.set: value is an object', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A({ k: 1 }))) },
  { name: 'attrs.set: value is a nested array', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A([[1, 2], [3]]))) },
  { name: 'attrs.set: value mixes numbers and strings', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A([1, 'x']))) },
  { name: 'attrs.set: value mixes numbers and booleans', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A([1.5, true]))) },
  { name: 'attrs.set: value null', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A(null))) },
  { name: 'attrs.set: value undefined', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A(undefined))) },
  { name: 'attrs.set: value is a function', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A(() => 1))) },
  { name: 'attrs.set: value is a symbol', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A(Symbol('a')))) },
  { name: 'attrs.set: value is a Date', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A(new Date(0)))) },
  { name: 'attrs.set: value is a typed array', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', A(new Float64Array([1, 2])))) },
  { name: 'attrs.set: bigint 2^64', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', 2n ** 64n)) },
  { name: 'attrs.set: array with bigint -2^63 - 1', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.set('a', [1n, -(2n ** 63n) - 1n])) },
  { name: 'attrs.set on a group: value is an object', code: 'INVALID_ARGUMENT', run: stage((g) => g.group('g').attrs.set('a', A({}))) },
  { name: 'attrs.get: name is a number', code: 'INVALID_ARGUMENT', run: (c) => c.vf.version('v1').attrs.get(A(1)) },
  { name: 'attrs.delete: name is a number (staging)', code: 'INVALID_ARGUMENT', run: stage((g) => g.attrs.delete(A(1))) },
  { name: 'attrs.set: on a committed version', code: 'READ_ONLY', run: (c) => c.vf.version('v1').attrs.set('a', 1) },
  { name: 'attrs.delete: on a committed version', code: 'READ_ONLY', run: (c) => c.vf.version('v1').attrs.delete('owner') },
  { name: 'attrs.set: on a committed dataset', code: 'READ_ONLY', run: committed('x', (d) => d.attrs.set('unit', 'km')) },
  { name: 'attrs.delete: on a committed group', code: 'READ_ONLY', run: (c) => c.vf.version('v1').group('g').attrs.delete('k') },

  // ---- after close() -------------------------------------------------------------------
  ...((): Case[] => {
    const closed = (name: string, fn: (c: Ctx) => unknown): Case => ({
      name: `after close: ${name}`,
      code: 'FILE_CLOSED',
      run: (c) => {
        c.vf.close()
        return fn(c)
      },
    })
    const stale = (name: string, fn: (c: Ctx) => () => unknown): Case => ({
      name: `after close: ${name}`,
      code: 'FILE_CLOSED',
      run: (c) => {
        const later = fn(c)
        c.vf.close()
        return later()
      },
    })
    return [
      closed('versions', (c) => c.vf.versions),
      closed('currentVersion', (c) => c.vf.currentVersion),
      closed('history()', (c) => c.vf.history()),
      closed("version('v1')", (c) => c.vf.version('v1')),
      closed('version(0)', (c) => c.vf.version(0)),
      closed('versionAt()', (c) => c.vf.versionAt('2024-01-02T00:00:00Z')),
      closed("setCurrentVersion('v1')", (c) => c.vf.setCurrentVersion('v1')),
      closed('stageVersion()', (c) => c.vf.stageVersion('hostile', () => {})),
      closed('verify()', (c) => c.vf.verify()),
      closed('verifySync()', (c) => c.vf.verifySync()),
      stale('a Version kept from before: get()', (c) => {
        const v = c.vf.version('v1')
        return () => v.get('x')
      }),
      stale('a Version kept from before: keys()', (c) => {
        const v = c.vf.version('v1')
        return () => v.keys()
      }),
      stale('a Dataset kept from before: read()', (c) => {
        const d = c.vf.version('v1').dataset('x')
        return () => d.read()
      }),
      stale('a Dataset kept from before: readSync()', (c) => {
        const d = c.vf.version('v1').dataset('m')
        return () => d.readSync([0])
      }),
      stale('a Group kept from before: get()', (c) => {
        const g = c.vf.version('v1').group('g')
        return () => g.get('inner')
      }),
      stale('Attributes kept from before: get()', (c) => {
        const a = c.vf.version('v1').attrs
        return () => a.get('owner')
      }),
    ]
  })(),

  // ---- huge but legal shapes: a read of everything must fail, not abort the process ----
  {
    name: 'readSync: the whole of a sparse [2^40] dataset (child process)',
    code: 'INVALID_ARGUMENT',
    mode: 'none',
    child: `return vf.stageVersion('hostile', (g) => { g.createDataset('huge', { shape: [2 ** 40], chunks: [2 ** 20] }).readSync() })`,
  },
  {
    name: 'read: a [0, 2^40] slice of a sparse [2^40] dataset (child process)',
    code: 'INVALID_ARGUMENT',
    mode: 'none',
    child: `return vf.stageVersion('hostile', async (g) => { await g.createDataset('huge', { shape: [2 ** 40], chunks: [2 ** 20] }).read([[0, 2 ** 40]]) })`,
  },
]

// ---------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------

interface Outcome {
  name: string
  expected: string
  got: string
  pass: boolean
  notes: string[]
}
const outcomes: Outcome[] = []

function runInChild(body: string, path: string): { err?: { code?: string; message: string }; crash?: string } {
  const indexJs = JSON.stringify(join(__dirname, '..', 'index.js'))
  const src = `
    const { VersionedFile } = require(${indexJs})
    const vf = VersionedFile.open(${JSON.stringify(path)}, { mode: 'a' })
    ;(async () => { ${body} })().then(
      () => { vf.close(); process.stdout.write(JSON.stringify({ ok: true })) },
      (e) => { try { vf.close() } catch {} ; process.stdout.write(JSON.stringify({ code: e && e.code, message: String(e && e.message) })) })`
  const r = spawnSync(process.execPath, ['-e', src], { encoding: 'utf8', timeout: 120_000, maxBuffer: 16 << 20 })
  if (r.status !== 0 || r.signal) {
    const firstLine = (r.stderr || '').split('\n').find((l) => l.trim()) ?? ''
    return { crash: `child died (status ${r.status}, signal ${r.signal}): ${firstLine}` }
  }
  const out = JSON.parse(r.stdout)
  if (out.ok) return {}
  return { err: { code: out.code, message: out.message } }
}

for (const c of cases) {
  test.serial(c.name, async (t) => {
    // A fresh copy of the prepared file for every case (a new path, so no state of an
    // earlier case can leak into this one).
    const shared = tmpFile('hostile-case')
    copyFileSync(pristine, shared)
    let err: { code?: string; message?: string } | undefined
    let isError = false
    let threw = false
    let crash: string | undefined
    let sameHandle: { versions: string[]; current: string } | undefined

    if (c.child) {
      const r = runInChild(c.child, shared)
      crash = r.crash
      if (r.err) {
        threw = true
        isError = true
        err = r.err
      }
    } else {
      const mode = c.mode ?? 'a'
      const vf = mode === 'none' ? (undefined as unknown as VersionedFile) : VersionedFile.open(shared, { mode })
      try {
        try {
          const out = c.run!({ vf, path: shared })
          if (out && typeof (out as any).then === 'function') await out
          // A hostile open that wrongly succeeds hands back a live handle: close it.
          if (out instanceof VersionedFile && !out.closed) out.close()
        } catch (e) {
          threw = true
          isError = e instanceof Error
          err = e as Error & { code?: string }
        }
        // The handle that saw the error still reports the file as it was.
        if (vf && !vf.closed) sameHandle = { versions: vf.versions, current: vf.currentVersion }
      } finally {
        if (vf && !vf.closed) vf.close()
      }
    }

    // The process lives (the addon still answers), and the file is unchanged as a fresh
    // handle and h5py see it.
    const after = snapshot(shared)
    const notes: string[] = []
    const short = (v: string) => (v.length > 24 ? `${v.slice(0, 8)}…(${v.length} chars)` : v)
    if (after.versions.join('|') !== before.versions.join('|')) notes.push(`versions became [${after.versions.map(short).join(', ')}]`)
    if (after.current !== before.current) notes.push(`currentVersion became ${short(after.current)}`)
    if (JSON.stringify(after.history) !== JSON.stringify(before.history)) notes.push('history changed')
    if (after.versionGroups.join('|') !== before.versionGroups.join('|')) notes.push(`version groups became [${after.versionGroups.map(short).join(', ')}]`)
    if (JSON.stringify(after.raw) !== JSON.stringify(before.raw)) notes.push(`raw_data rows became ${JSON.stringify(after.raw)}`)
    if (after.x.join() !== before.x.join()) notes.push(`x in v2 became ${after.x.join(',')}`)
    if (!after.verifyOk) notes.push('verifySync() fails')

    let got: string
    if (crash) got = crash
    else if (!threw) got = 'no error (the call succeeded)'
    else got = `${err?.code ?? '(no code)'}: ${String(err?.message).slice(0, 200)}`
    const panicky = /panicked|RUST_BACKTRACE|unwrap\(\)/.test(String(err?.message))
    const pass = !crash && threw && isError && err?.code === c.code && !panicky && notes.length === 0
    outcomes.push({ name: c.name, expected: c.code, got, pass, notes })

    // Assertions (AVA stops a test at its first failed assertion, so they come last).
    t.is(crash, undefined, 'the process running the call lives')
    t.true(threw, `expected ${c.code}, but the call succeeded`)
    t.true(isError, 'an Error instance')
    t.is(err?.code, c.code, err?.message)
    t.true(typeof err?.message === 'string' && err.message.length > 0, 'has a message')
    t.false(panicky, 'not a Rust panic')
    if (sameHandle) t.deepEqual(sameHandle, { versions: before.versions, current: before.current }, 'the same handle: versions, currentVersion')
    t.deepEqual(after.versions, before.versions, 'versions')
    t.is(after.current, before.current, 'currentVersion')
    t.deepEqual(after.history, before.history, 'history (parents, timestamps)')
    t.deepEqual(after.versionGroups, before.versionGroups, 'groups under _version_data/versions')
    t.deepEqual(after.raw, before.raw, 'raw_data rows of every dataset path')
    t.deepEqual(after.x, before.x, 'data of x in v2')
    t.true(after.verifyOk, 'verifySync() passes')
    c.after?.(t)
  })
}

test.serial('summary: at least 60 hostile cases ran, and which of them failed', (t) => {
  t.log(`${cases.length} hostile cases; ${outcomes.filter((o) => o.pass).length} passed, ${outcomes.filter((o) => !o.pass).length} failed`)
  for (const o of outcomes.filter((o) => !o.pass)) {
    t.log(`FAIL ${o.name}: expected ${o.expected}, got ${o.got}${o.notes.length ? ` [${o.notes.join('; ')}]` : ''}`)
  }
  t.true(cases.length >= 60)
  t.is(outcomes.length, cases.length, 'every case ran, none crashed the runner')
  t.is(new Set(cases.map((c) => c.name)).size, cases.length, 'case names are unique')
})
