// Files written by the Python library versioned-hdf5 (../shared/fixtures/versioned-hdf5-2.4):
// for every fixture file we check that this library reads every version exactly as
// plain h5py reads it through the virtual datasets (__test__/py/dump_versions.py is the
// oracle, run at test time), then that a version added here reads back correctly both
// here and in h5py, with every old version unchanged.
//
// None of the fixtures carries a `data_version` attribute (format generation 1) and
// all their string hash tables are known to be wrong (spec §1.11): neither may make a
// read or a new version wrong.
//
// The read checks are collected, not stopped at the first failure, so one failing
// dataset (e.g. a string dataset while strings are unsupported) does not hide the
// result of the others: the test fails listing every failed check.
import test, { type ExecutionContext } from 'ava'
import { strict as assert } from 'node:assert'
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

import { VersionedFile } from '../index.js'
import { PYTHON, ds, tmpFile } from './helpers.js'
import { unravel } from './support/selection.js'

const FIXTURES = process.env.VH5_PY_FIXTURES ?? join(__dirname, 'fixtures', 'versioned-hdf5-2.4')
const DUMP = join(process.cwd(), '__test__', 'py', 'dump_versions.py')

interface DumpedDataset {
  dtype: string
  shape: number[]
  /** Flat C-order values; `{ field: values }` for compound datasets. */
  data: unknown[] | Record<string, unknown[]>
}
interface DumpedVersion {
  prev_version: string
  timestamp: string
  datasets: Record<string, DumpedDataset>
}
interface Dump {
  current_version: string
  data_version: number | null
  versions: Record<string, DumpedVersion>
}

// ---------------------------------------------------------------------------------
// The oracle

/** JSON.parse that keeps integers too long for a double exact (as bigint). */
function parseExact<T>(text: string): T {
  // Strings are matched first so digits inside them are left alone.
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/g, (m) =>
    m.startsWith('"') ? m : `{"$bigint":"${m}"}`,
  )
  return JSON.parse(marked, (_k, v) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && typeof v.$bigint === 'string'
      ? BigInt(v.$bigint)
      : v,
  ) as T
}

/** What h5py reads in `path` (every version except __first_version__, through the VDS). */
function dump(path: string): Dump {
  const env = { ...process.env, HDF5_USE_FILE_LOCKING: 'FALSE' }
  const out = execFileSync(PYTHON, [DUMP, path], { encoding: 'utf8', maxBuffer: 256 << 20, env })
  return parseExact<Dump>(out)
}

/** A writable private copy of a (read-only) fixture file. */
function copyFixture(file: string): string {
  const copy = tmpFile(file.replace(/\.h5$/, ''))
  copyFileSync(join(FIXTURES, file), copy)
  chmodSync(copy, 0o644)
  return copy
}

// ---------------------------------------------------------------------------------
// Comparing what the library returns with what h5py printed

const isStringDtype = (dtype: string) => dtype === 'string' || dtype === 'ascii' || /^S\d+$/.test(dtype) || /^utf8\[\d+\]$/.test(dtype)
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1)

/** The typed array `read()` must return for each numeric dtype (as the README documents). */
const TYPED: Record<string, { name: string }> = {
  float64: Float64Array, float32: Float32Array, float16: Float32Array,
  int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
  uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array,
  bool: Uint8Array,
}

/** Field dtypes of 'compound{a:int32,b:float64}'. */
function compoundFields(dtype: string): Array<[string, string]> | null {
  const m = /^compound\{(.*)\}$/.exec(dtype)
  if (!m) return null
  const fields: Array<[string, string]> = []
  let depth = 0
  let cur = ''
  for (const ch of m[1] + ',') {
    if (ch === ',' && depth === 0) {
      const i = cur.indexOf(':')
      fields.push([cur.slice(0, i), cur.slice(i + 1)])
      cur = ''
      continue
    }
    if (ch === '{' || ch === '[') depth++
    if (ch === '}' || ch === ']') depth--
    cur += ch
  }
  return fields
}

/** h5py's values in the form the library returns them (bool as 0/1, 64-bit ints as bigint). */
function expectedValues(dtype: string, data: DumpedDataset['data']): unknown {
  const fields = compoundFields(dtype)
  if (fields) {
    const rec = data as Record<string, unknown[]>
    return Object.fromEntries(fields.map(([f, dt]) => [f, expectedValues(dt, rec[f])]))
  }
  const list = data as unknown[]
  if (isStringDtype(dtype)) return list
  if (dtype === 'bool') return list.map((b) => (b ? 1 : 0))
  if (dtype === 'int64' || dtype === 'uint64') return list.map((x) => BigInt(x as number | bigint))
  if (dtype.startsWith('float')) return list.map((x) => (typeof x === 'string' ? Number(x) : x)) // "NaN", "Infinity"
  return list.map((x) => (typeof x === 'bigint' ? x : Number(x)))
}

/** The library's read() result as a plain array, after checking its container type. */
function actualValues(dtype: string, value: unknown): unknown {
  const fields = compoundFields(dtype)
  if (fields) {
    assert.ok(value !== null && typeof value === 'object' && !ArrayBuffer.isView(value), `compound read() must return an object, got ${describe(value)}`)
    const rec = value as Record<string, unknown>
    assert.deepStrictEqual(Object.keys(rec).sort(), fields.map(([f]) => f).sort(), 'compound fields')
    return Object.fromEntries(fields.map(([f, dt]) => [f, actualValues(dt, rec[f])]))
  }
  if (isStringDtype(dtype)) {
    assert.ok(Array.isArray(value) && value.every((s) => typeof s === 'string'), `a ${dtype} dataset must read as string[], got ${describe(value)}`)
    return Array.from(value as string[])
  }
  const ctor = TYPED[dtype]
  if (ctor) assert.equal(describe(value), ctor.name, `a ${dtype} dataset must read as ${ctor.name}`)
  return Array.from(value as ArrayLike<unknown>)
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'Array'
  if (ArrayBuffer.isView(value)) return value.constructor.name
  return value === null ? 'null' : typeof value
}

/** Microseconds since the epoch of a stored timestamp 'YYYY-MM-DD HH:MM:SS.ffffff+0000'. */
function micros(ts: string): bigint {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?([+-])(\d\d)(\d\d)$/.exec(ts)
  assert.ok(m, `unexpected timestamp format ${JSON.stringify(ts)}`)
  const secs = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000
  const offset = (+m[9] * 60 + +m[10]) * 60 * (m[8] === '-' ? -1 : 1)
  return BigInt(secs - offset) * 1_000_000n + BigInt((m[7] ?? '').padEnd(6, '0'))
}

type Check = [label: string, run: () => unknown]

/** Runs every check, then fails the test listing all that failed (if any). */
async function runChecks(t: ExecutionContext, checks: Check[]): Promise<void> {
  const failures: string[] = []
  for (const [label, run] of checks) {
    try {
      await run()
    } catch (e) {
      const err = e as Error & { code?: string }
      failures.push(`${label}: ${err.code ? `[${err.code}] ` : ''}${err.message}`)
    }
  }
  t.log(`${checks.length - failures.length} of ${checks.length} checks passed`)
  t.deepEqual(failures, [], `${failures.length} of ${checks.length} checks failed`)
}

/** Labels an assertion inside a check (node's assert messages replace the diff otherwise). */
function eq(what: string, actual: unknown, expected: unknown): void {
  try {
    assert.deepStrictEqual(actual, expected)
  } catch (e) {
    ;(e as Error).message = `${what}: ${(e as Error).message}`
    throw e
  }
}

/** Everything the library must agree with h5py on, for a whole file. */
function fileChecks(vf: VersionedFile, want: Dump, prefix = ''): Check[] {
  const checks: Check[] = [
    [`${prefix}versions`, () => eq('versions (as a set)', [...vf.versions].sort(), Object.keys(want.versions).sort())],
    [`${prefix}currentVersion`, () => eq('currentVersion', vf.currentVersion, want.current_version)],
  ]
  for (const [name, v] of Object.entries(want.versions)) {
    checks.push([`${prefix}${name}: prevVersion`, () => eq('prevVersion', vf.version(name).prevVersion, v.prev_version)])
    checks.push([`${prefix}${name}: timestampMicros`, () => eq('timestampMicros', vf.version(name).timestampMicros, micros(v.timestamp))])
    checks.push([`${prefix}${name}: datasets()`, () => eq('datasets()', vf.version(name).datasets(), Object.keys(v.datasets).sort())])
    for (const [path, d] of Object.entries(v.datasets)) {
      checks.push([
        `${prefix}${name}/${path} (${d.dtype} ${JSON.stringify(d.shape)})`,
        async () => {
          const x = ds(vf.version(name), path)
          eq('dtype', x.dtype, d.dtype)
          eq('shape', x.shape, d.shape)
          eq('data', actualValues(d.dtype, await x.read()), expectedValues(d.dtype, d.data))
        },
      ])
    }
  }
  return checks
}

/**
 * After new versions were committed to `copy` (and the file closed): h5py must see
 * every old version unchanged and the new ones as `added` says (their timestamps are
 * taken from h5py), and the library, reopening the file, must read all of it the same.
 */
async function verifyAfterWrite(t: ExecutionContext, copy: string, before: Dump, added: Record<string, Omit<DumpedVersion, 'timestamp'>>, current: string, extra: Check[] = []): Promise<void> {
  const after = dump(copy)
  const checks: Check[] = [...extra]
  checks.push(['h5py: data_version', () => assert.ok([null, 1, 4].includes(after.data_version), `data_version ${after.data_version}: Python refuses 2, 3 and > 4`)])
  checks.push(['h5py: current_version', () => eq('current_version', after.current_version, current)])
  checks.push(['h5py: versions', () => eq('versions', Object.keys(after.versions).sort(), [...Object.keys(before.versions), ...Object.keys(added)].sort())])
  for (const [name, v] of Object.entries(before.versions)) {
    checks.push([`h5py: old version ${name} unchanged`, () => eq(name, after.versions[name], v)])
  }
  for (const [name, v] of Object.entries(added)) {
    checks.push([`h5py: new version ${name} prev_version`, () => eq('prev_version', after.versions[name]?.prev_version, v.prev_version)])
    checks.push([`h5py: new version ${name} datasets`, () => eq('datasets', after.versions[name]?.datasets, v.datasets)])
  }
  const want: Dump = {
    current_version: current,
    data_version: null,
    versions: {
      ...before.versions,
      ...Object.fromEntries(Object.entries(added).map(([n, v]) => [n, { ...v, timestamp: after.versions[n]?.timestamp ?? '(missing in h5py)' }])),
    },
  }
  const vf = VersionedFile.open(copy, { mode: 'r' })
  try {
    checks.push(...fileChecks(vf, want, 'library after reopening: '))
    await runChecks(t, checks)
  } finally {
    vf.close()
  }
}

const clone = <T>(x: T): T => structuredClone(x)

// ---------------------------------------------------------------------------------
// The tests: one reading test and one writing test per fixture file

const FILES = readdirSync(FIXTURES).filter((f) => f.endsWith('.h5')).sort()

test('the fixture directory holds versioned-hdf5 files', (t) => {
  t.true(FILES.length > 0, `no .h5 file in ${FIXTURES}`)
})

for (const file of FILES) {
  test(`${file}: every version reads as h5py reads it through the VDS`, async (t) => {
    const copy = copyFixture(file)
    const want = dump(copy)
    t.true(Object.keys(want.versions).length > 0, 'h5py sees no version')
    const vf = VersionedFile.open(copy, { mode: 'r' })
    try {
      await runChecks(t, fileChecks(vf, want))
    } finally {
      vf.close()
    }
  })

  test(`${file}: a version committed here (one string changed, datasets added) reads back here and in h5py`, async (t) => {
    const copy = copyFixture(file)
    const before = dump(copy)
    const cur = before.current_version
    const base = before.versions[cur]
    if (!base) return t.fail(`h5py: current version ${cur} is not a version`)
    const target = Object.keys(base.datasets)
      .sort()
      .find((p) => isStringDtype(base.datasets[p].dtype) && size(base.datasets[p].shape) > 0)
    if (target === undefined) return t.fail(`current version ${cur} has no non-empty string dataset`)

    const name = 'node-added-version'
    t.false(name in before.versions)
    const { shape } = base.datasets[target]
    const flat = Math.floor(size(shape) / 2)
    const index = unravel(flat, shape)
    const changed = `changed by node ✓ ${flat}`
    const labels = ['', 'plain', 'naïve ✓', '日本語', 'emoji 🎉']
    const values = new Float64Array([0.5, -1.25, 1e300, 3])
    for (const p of ['node_added', 'node_added/labels', 'node_added/values']) t.false(p in base.datasets)

    const expected = clone(base.datasets)
    ;(expected[target].data as unknown[])[flat] = changed
    expected['node_added/labels'] = { dtype: 'string', shape: [labels.length], data: labels }
    expected['node_added/values'] = { dtype: 'float64', shape: [values.length], data: Array.from(values) }

    // Generation-1 file (no data_version) with known-bad string hash tables: writable anyway.
    const vf = VersionedFile.open(copy, { mode: 'a' })
    try {
      await vf.stageVersion(name, (g) => {
        ds(g, target).write(index, changed as any)
        g.createDataset('node_added/labels', { data: labels as any, dtype: 'string' })
        g.createDataset('node_added/values', { data: values })
      })
      t.is(vf.currentVersion, name)
    } finally {
      vf.close()
    }
    await verifyAfterWrite(t, copy, before, { [name]: { prev_version: cur, datasets: expected } }, name)
  })
}

// The hash tables of this file are wrong (data_version 1 hashed object pointers): a
// writer that trusted them could map a new chunk onto a slot holding other strings.
// Re-create the dataset with exactly the content of every earlier version, newest
// first, then once more oldest first (the second pass may deduplicate against chunks
// written by the first), and every new version must read exactly that content.
test('object_dtype_bad_hashtable_chunk_reuse.h5: re-writing the content of every earlier version reads back exactly', async (t) => {
  const file = 'object_dtype_bad_hashtable_chunk_reuse.h5'
  t.true(FILES.includes(file), `${file} missing from ${FIXTURES}`)
  const copy = copyFixture(file)
  const before = dump(copy)
  const cur = before.current_version
  const base = before.versions[cur]
  if (!base) return t.fail(`h5py: current version ${cur} is not a version`)
  const target = Object.keys(base.datasets).sort().find((p) => isStringDtype(base.datasets[p].dtype))
  if (target === undefined) return t.fail(`current version ${cur} has no string dataset`)
  const byTime = Object.keys(before.versions)
    .filter((n) => target in before.versions[n].datasets)
    .sort((a, b) => Number(micros(before.versions[a].timestamp) - micros(before.versions[b].timestamp)))
  t.true(byTime.length > 1, 'expected several versions of the string dataset')

  const added: Record<string, Omit<DumpedVersion, 'timestamp'>> = {}
  const failures: Check[] = []
  let prev = cur
  const vf = VersionedFile.open(copy, { mode: 'a' })
  try {
    const chunks = ds(vf.version(cur), target).chunks
    for (const [pass, order] of [[1, [...byTime].reverse()], [2, byTime]] as const) {
      for (const source of order) {
        const name = `node-rewrite-${pass}-of-${source}`
        const content = before.versions[source].datasets[target]
        try {
          await vf.stageVersion(name, (g) => {
            g.createDataset(target, { data: content.data as any, shape: content.shape, dtype: content.dtype, chunks })
          })
        } catch (e) {
          const err = e as Error & { code?: string }
          failures.push([`staging ${name}`, () => { throw err }])
          continue
        }
        added[name] = { prev_version: prev, datasets: { ...clone(base.datasets), [target]: clone(content) } }
        prev = name
      }
    }
  } finally {
    vf.close()
  }
  await verifyAfterWrite(t, copy, before, added, prev, failures)
})
