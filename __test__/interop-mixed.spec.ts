// Interop with the real Python versioned-hdf5 2.4.0 (the .venv oracle): mixed histories
// where Node and Python take turns on one file, deduplication across the two writers,
// Python's maintenance functions (delete_versions, modify_metadata, rebuild_hashtables)
// on files written here, and chunk-hash agreement on files Python wrote.
//
// The Python half is __test__/py/interop_mixed.py. Every history here is also computed
// by a small in-test model (`History`), so each side is checked against an expectation,
// not just against the other side.
import test, { type ExecutionContext } from 'ava'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'

import { VersionedFile, type Dataset, type StagedGroup } from '../index.js'
import { throwsCode, tmpFile, vpy } from './helpers.js'

const SCRIPT = join(__dirname, 'py', 'interop_mixed.py')
const FIXTURES = join(__dirname, 'fixtures', 'versioned-hdf5-2.4')

/** Runs a subcommand of interop_mixed.py with the venv; extra arguments go as JSON. */
function pyx<T>(cmd: string, file: string, ...args: unknown[]): T {
  return vpy<T>(SCRIPT, cmd, file, ...args.map((a) => JSON.stringify(a)))
}

// --- the model ------------------------------------------------------------------------

/** An element: a number, or a string (text, or a 64-bit integer in decimal). Bools are 0/1. */
type Val = number | string
type Sel = Array<[number, number]>
type Op =
  | {
      op: 'create'
      path: string
      dtype: string
      shape: number[]
      chunks: number[]
      data: Val[]
      fill?: Val
      compression?: string
      compression_opts?: number
      /** Node only (Python always hashes with SHA-256). Default here: 'sha256'. */
      hash?: 'sha256' | 'blake3'
    }
  | { op: 'write'; path: string; sel: Sel; data: Val[] }
  | { op: 'resize'; path: string; shape: number[] }
  | { op: 'delete'; path: string }

interface Round {
  writer: 'node' | 'python'
  name: string
  prev?: string
  ops: Op[]
}

interface DsModel {
  dtype: string
  shape: number[]
  chunks: number[]
  fill: Val
  data: Val[]
  compression: string | null
  compressionLevel: number | null
}
type Tree = Record<string, DsModel>

const STRING_DTYPES = /^(string|ascii|S\d+|utf8\[\d+\])$/
const isStr = (dtype: string) => STRING_DTYPES.test(dtype)
const is64 = (dtype: string) => dtype === 'int64' || dtype === 'uint64'
const defaultFill = (dtype: string): Val => (isStr(dtype) ? '' : is64(dtype) ? '0' : 0)
const prod = (a: number[]) => a.reduce((x, y) => x * y, 1)
const range = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i))

/** Flat C-order indices into `shape` of every coordinate of the box `sel`, in C order. */
function boxIndices(shape: number[], sel: Sel): number[] {
  const counts = sel.map(([a, b]) => b - a)
  const out: number[] = []
  for (let k = 0; k < prod(counts); k++) {
    let rest = k
    let flat = 0
    let stride = 1
    for (let ax = shape.length - 1; ax >= 0; ax--) {
      const c = rest % counts[ax]
      rest = Math.floor(rest / counts[ax])
      flat += (sel[ax][0] + c) * stride
      stride *= shape[ax]
    }
    out.push(flat)
  }
  return out
}

function applyModel(tree: Tree, op: Op): void {
  switch (op.op) {
    case 'create':
      if (op.data.length !== prod(op.shape)) throw new Error(`model: ${op.path} data/shape`)
      tree[op.path] = {
        dtype: op.dtype,
        shape: [...op.shape],
        chunks: [...op.chunks],
        fill: op.fill ?? defaultFill(op.dtype),
        data: [...op.data],
        compression: op.compression ?? null,
        compressionLevel: op.compression === 'gzip' ? (op.compression_opts ?? 4) : null,
      }
      return
    case 'write': {
      const d = tree[op.path]
      const idx = boxIndices(d.shape, op.sel)
      if (idx.length !== op.data.length) throw new Error(`model: ${op.path} write size`)
      idx.forEach((flat, i) => (d.data[flat] = op.data[i]))
      return
    }
    case 'resize': {
      const d = tree[op.path]
      const data = new Array<Val>(prod(op.shape)).fill(d.fill)
      const common: Sel = op.shape.map((n, ax) => [0, Math.min(n, d.shape[ax])])
      const from = boxIndices(d.shape, common)
      boxIndices(op.shape, common).forEach((flat, i) => (data[flat] = d.data[from[i]]))
      d.shape = [...op.shape]
      d.data = data
      return
    }
    case 'delete':
      delete tree[op.path]
  }
}

/** Every version's expected tree, following prev_version like both libraries do. */
class History {
  readonly states = new Map<string, Tree>()
  readonly parents = new Map<string, string>()
  current = '__first_version__'

  apply(r: Round): void {
    const prev = r.prev ?? this.current
    const base = prev === '__first_version__' ? {} : this.states.get(prev)
    if (!base) throw new Error(`model: unknown parent ${prev}`)
    const tree = structuredClone(base) as Tree
    for (const op of r.ops) applyModel(tree, op)
    this.states.set(r.name, tree)
    this.parents.set(r.name, prev)
    this.current = r.name
  }
}

// --- writers --------------------------------------------------------------------------

/** JS data for the Node API: typed arrays for numbers, string[] for strings. */
function typed(dtype: string, vals: Val[]): never {
  const nums = () => vals.map(Number)
  const table: Record<string, () => unknown> = {
    float64: () => Float64Array.from(nums()),
    float32: () => Float32Array.from(nums()),
    float16: () => Float32Array.from(nums()),
    int8: () => Int8Array.from(nums()),
    int16: () => Int16Array.from(nums()),
    int32: () => Int32Array.from(nums()),
    uint8: () => Uint8Array.from(nums()),
    uint16: () => Uint16Array.from(nums()),
    uint32: () => Uint32Array.from(nums()),
    bool: () => Uint8Array.from(nums()),
    int64: () => BigInt64Array.from(vals.map((v) => BigInt(v))),
    uint64: () => BigUint64Array.from(vals.map((v) => BigInt(v))),
  }
  if (isStr(dtype)) return vals.map(String) as never
  const f = table[dtype]
  if (!f) throw new Error(`typed: ${dtype}`)
  return f() as never
}

function nodeFill(dtype: string, fill: Val | undefined): number | bigint | boolean | undefined {
  if (fill === undefined || isStr(dtype)) return undefined
  if (is64(dtype)) return BigInt(fill)
  if (dtype === 'bool') return Boolean(fill)
  return Number(fill)
}

function applyNode(g: StagedGroup, op: Op): void {
  switch (op.op) {
    case 'create':
      g.createDataset(op.path, {
        data: typed(op.dtype, op.data),
        shape: op.shape,
        dtype: op.dtype,
        chunks: op.chunks,
        fillValue: nodeFill(op.dtype, op.fill),
        compression: op.compression,
        compressionLevel: op.compression_opts,
        hash: op.hash ?? 'sha256',
      })
      return
    case 'write':
      g.dataset(op.path).write(op.sel, typed(g.dataset(op.path).dtype, op.data))
      return
    case 'resize':
      g.dataset(op.path).resize(op.shape)
      return
    case 'delete':
      g.delete(op.path)
  }
}

/** The dump interop_mixed.py prints (see its docstring). */
interface PyDs {
  dtype: string
  shape: number[]
  chunks: number[]
  fill: Val | null
  compression: string | null
  compression_opts: number | null
  data: Val[]
}
interface PyDump {
  current_version: string
  data_version: number
  versions: Record<string, { prev_version: string; timestamp: string; datasets: Record<string, PyDs> }>
  rplus: Record<string, Record<string, { dtype: string; shape: number[]; chunks: number[]; data: Val[] }>>
}

/** Applies one round to the model and, with the round's writer, to the file. */
async function play(file: string, hist: History, r: Round): Promise<PyDump | undefined> {
  hist.apply(r)
  if (r.writer === 'node') {
    const vf = VersionedFile.open(file, { mode: 'a' })
    try {
      await vf.stageVersion(r.name, (g) => r.ops.forEach((op) => applyNode(g, op)), r.prev ? { prevVersion: r.prev } : undefined)
    } finally {
      vf.close()
    }
    return undefined
  }
  const spec = { name: r.name, prev_version: r.prev ?? null, ops: r.ops.map(({ hash: _h, ...rest }: Op & { hash?: string }) => rest) }
  return pyx<PyDump>('stage', file, spec)
}

// --- readers and checks ----------------------------------------------------------------

/** One element as both sides report it: bigint as decimal, bool as 0/1, NaN as 'NaN'. */
function norm(v: unknown): Val {
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'boolean') return v ? 1 : 0
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v
  if (typeof v === 'string') return v
  throw new Error(`norm: ${String(v)}`)
}
const normArr = (a: unknown): Val[] => Array.from(a as ArrayLike<unknown>, norm)

interface View {
  dtype: string
  shape: number[]
  chunks: number[]
  fill: Val
  compression: string | null
  compressionLevel: number | null
  data: Val[]
}

function expectedViews(hist: History, versions: string[]): Record<string, Record<string, View>> {
  const out: Record<string, Record<string, View>> = {}
  for (const v of versions) {
    const tree = hist.states.get(v)!
    out[v] = Object.fromEntries(
      Object.entries(tree).map(([p, d]) => [p, { dtype: d.dtype, shape: d.shape, chunks: d.chunks, fill: norm(d.fill), compression: d.compression, compressionLevel: d.compressionLevel, data: d.data.map(norm) }]),
    )
  }
  return out
}

/** Node's view of every version of the file: metadata and every element. */
async function nodeViews(file: string): Promise<{ current: string; prev: Record<string, string>; views: Record<string, Record<string, View>> }> {
  const vf = VersionedFile.open(file, { mode: 'r' })
  try {
    const views: Record<string, Record<string, View>> = {}
    const prev: Record<string, string> = {}
    for (const name of vf.versions) {
      const v = vf.version(name)
      prev[name] = v.prevVersion
      views[name] = {}
      for (const p of v.datasets()) {
        const d: Dataset = v.dataset(p)
        views[name][p] = {
          dtype: d.dtype,
          shape: d.shape,
          chunks: d.chunks,
          fill: norm(d.fillValue),
          compression: d.compression,
          compressionLevel: d.compressionLevel,
          data: normArr(await d.read()),
        }
      }
    }
    return { current: vf.currentVersion, prev, views }
  } finally {
    vf.close()
  }
}

/** Node reads every version exactly as the model says (data, metadata, graph). */
async function checkNode(t: ExecutionContext, file: string, hist: History, versions = [...hist.states.keys()]): Promise<void> {
  const seen = await nodeViews(file)
  t.deepEqual(Object.keys(seen.views).sort(), [...versions].sort(), 'Node: version list')
  t.deepEqual(seen.views, expectedViews(hist, versions), 'Node: every version, element by element')
  t.deepEqual(seen.prev, Object.fromEntries(versions.map((v) => [v, hist.parents.get(v)!])), 'Node: prev_version')
  t.is(seen.current, hist.current, 'Node: current version')
}

/** Python reads every version exactly as the model says: through the VDS ('r') and
 * through versioned-hdf5's own raw_data reader ('r+'). */
function checkPython(t: ExecutionContext, dump: PyDump, hist: History, versions = [...hist.states.keys()]): void {
  const want = expectedViews(hist, versions)
  const viaVds: Record<string, Record<string, View>> = {}
  for (const [v, e] of Object.entries(dump.versions)) {
    viaVds[v] = Object.fromEntries(
      Object.entries(e.datasets).map(([p, d]) => [p, { dtype: d.dtype, shape: d.shape, chunks: d.chunks, fill: d.fill as Val, compression: d.compression, compressionLevel: d.compression_opts, data: d.data }]),
    )
  }
  t.deepEqual(viaVds, want, 'Python (h5py through the VDS): every version, element by element')
  const viaRaw = Object.fromEntries(Object.entries(want).map(([v, tree]) => [v, Object.fromEntries(Object.entries(tree).map(([p, d]) => [p, { dtype: d.dtype, shape: d.shape, chunks: d.chunks, data: d.data }]))]))
  t.deepEqual(dump.rplus, viaRaw, "Python (versioned-hdf5's InMemoryDataset over raw_data): every version")
  t.deepEqual(Object.fromEntries(Object.entries(dump.versions).map(([v, e]) => [v, e.prev_version])), Object.fromEntries(versions.map((v) => [v, hist.parents.get(v)!])), 'Python: prev_version')
  t.is(dump.current_version, hist.current, 'Python: current version')
  t.is(dump.data_version, 4)
}

interface ModifyResult extends PyDump {
  dcpl_errors: Record<string, string>
  rplus_error?: string
}

interface Table {
  attrs: Record<string, string | number>
  largest_index: number
  raw_rows: number
  rows: Array<[string, number, number]>
}
const tables = (file: string) => pyx<Record<string, Table>>('tables', file)
/** raw_data rows per dataset path. */
const rowCounts = (tb: Record<string, Table>) => Object.fromEntries(Object.entries(tb).map(([k, v]) => [k, v.raw_rows]))
/** Committed slots (largest_index) per dataset path. Python's maintenance functions can
 * leave raw_data longer than largest_index * c0 (spec §1.6: the excess is garbage; this
 * library appends after it rather than over it), so after them slots are counted. */
const slotCounts = (tb: Record<string, Table>) => Object.fromEntries(Object.entries(tb).map(([k, v]) => [k, v.largest_index]))

// --- 4. mixed histories ----------------------------------------------------------------

const WORDS = ['alpha', 'ü', '', '日本語', '🙂 smile', '', 'x'.repeat(40), 'naïve', 'Ωmega', 'end']

const MIXED: Round[] = [
  {
    writer: 'node',
    name: 'v01',
    ops: [
      { op: 'create', path: 'f64', dtype: 'float64', shape: [20], chunks: [8], data: range(20, (i) => i * 1.5) },
      { op: 'create', path: 'm/i32', dtype: 'int32', shape: [10, 7], chunks: [4, 3], fill: -1, data: range(70, (i) => i - 30) },
      { op: 'create', path: 's', dtype: 'string', shape: [10], chunks: [4], data: WORDS },
      { op: 'create', path: 'tmp', dtype: 'int16', shape: [5], chunks: [2], data: [1, 2, 3, 4, 5] },
    ],
  },
  {
    writer: 'python',
    name: 'v02',
    ops: [
      { op: 'write', path: 'f64', sel: [[3, 11]], data: range(8, (i) => 100 + i) },
      { op: 'resize', path: 'f64', shape: [27] },
      { op: 'write', path: 'f64', sel: [[25, 27]], data: [7.25, -7.25] },
      { op: 'create', path: 'fx', dtype: 'S6', shape: [7], chunks: [5], data: ['abc', '', 'abcdef', 'x', 'hello', 'ab', 'zz'] },
      { op: 'write', path: 's', sel: [[2, 5]], data: ['', 'ça va', 'ä'] },
      { op: 'write', path: 'm/i32', sel: [[1, 3], [2, 6]], data: range(8, (i) => 1000 + i) },
    ],
  },
  {
    writer: 'node',
    name: 'v03',
    ops: [
      { op: 'create', path: 'i64', dtype: 'int64', shape: [6], chunks: [5], data: ['1152921504606846977', '-9223372036854775808', '9223372036854775807', '0', '-1', '42'] },
      { op: 'resize', path: 'm/i32', shape: [12, 5] },
      { op: 'write', path: 'm/i32', sel: [[10, 12], [0, 5]], data: range(10, (i) => 2000 + i) },
      { op: 'resize', path: 's', shape: [13] },
      { op: 'write', path: 's', sel: [[10, 13]], data: ['新しい', '', 'last'] },
    ],
  },
  {
    writer: 'python',
    name: 'v04',
    ops: [
      { op: 'delete', path: 'tmp' },
      { op: 'create', path: 'g/b', dtype: 'bool', shape: [9], chunks: [6], data: [1, 0, 1, 1, 0, 0, 1, 0, 1] },
      { op: 'write', path: 'fx', sel: [[0, 2]], data: ['new', 'QQQQQQ'] },
      { op: 'resize', path: 'f64', shape: [17] },
      { op: 'write', path: 'i64', sel: [[1, 4]], data: ['-5', '123456789012345678', '7'] },
    ],
  },
  {
    writer: 'node',
    name: 'v05',
    ops: [
      { op: 'write', path: 'g/b', sel: [[2, 7]], data: [0, 1, 0, 1, 0] },
      { op: 'resize', path: 'fx', shape: [9] },
      { op: 'write', path: 'fx', sel: [[7, 9]], data: ['tail1', 't2'] },
      { op: 'write', path: 'f64', sel: [[0, 4]], data: [-1, -2, -3, -4] },
      { op: 'resize', path: 'm/i32', shape: [13, 8] },
    ],
  },
  {
    writer: 'python',
    name: 'v06',
    ops: [
      { op: 'create', path: 'f32c', dtype: 'float32', shape: [5, 4], chunks: [3, 3], fill: 0.5, compression: 'gzip', compression_opts: 6, data: range(20, (i) => i * 0.25) },
      { op: 'write', path: 's', sel: [[0, 2]], data: ['первый', ''] },
      { op: 'write', path: 'm/i32', sel: [[12, 13], [0, 8]], data: range(8, (i) => 3000 + i) },
      { op: 'resize', path: 'i64', shape: [8] },
      { op: 'write', path: 'i64', sel: [[6, 8]], data: ['99', '-99'] },
    ],
  },
  {
    writer: 'node',
    name: 'v07',
    ops: [
      // Re-created after Python deleted it in v04: the file's settings for the path hold.
      { op: 'create', path: 'tmp', dtype: 'int16', shape: [3], chunks: [2], data: [7, 8, 9] },
      { op: 'write', path: 'f32c', sel: [[1, 4], [1, 3]], data: range(6, (i) => -i - 0.75) },
      { op: 'resize', path: 'f32c', shape: [6, 4] },
      { op: 'write', path: 's', sel: [[5, 9]], data: ['', '', 'mid', ''] },
    ],
  },
  {
    writer: 'python',
    name: 'v08',
    ops: [
      { op: 'resize', path: 's', shape: [11] },
      { op: 'write', path: 'g/b', sel: [[0, 9]], data: range(9, () => 1) }, // whole dataset: Python's hot swap
      { op: 'write', path: 'f64', sel: [[10, 17]], data: range(7, (i) => 50 + i) },
      { op: 'write', path: 'f32c', sel: [[4, 6], [0, 4]], data: range(8, (i) => i + 0.125) },
    ],
  },
  {
    // A branch: from v07, not from the current v08.
    writer: 'node',
    name: 'v09',
    prev: 'v07',
    ops: [
      { op: 'write', path: 'tmp', sel: [[0, 3]], data: [10, 11, 12] },
      { op: 'resize', path: 'g/b', shape: [14] },
      { op: 'write', path: 'g/b', sel: [[9, 14]], data: [1, 0, 1, 0, 1] },
      { op: 'write', path: 'i64', sel: [[0, 8]], data: ['1', '2', '-3', '4611686018427387904', '5', '6', '7', '8'] },
      { op: 'write', path: 'fx', sel: [[3, 5]], data: ['mno', 'pqrstu'] },
    ],
  },
  {
    writer: 'python',
    name: 'v10',
    ops: [
      { op: 'write', path: 'm/i32', sel: [[0, 13], [0, 8]], data: range(104, (i) => ((i * 7) % 50) - 25) },
      { op: 'write', path: 'f32c', sel: [[0, 1], [0, 4]], data: [9, 9, 9, 9] },
      { op: 'write', path: 'tmp', sel: [[0, 2]], data: [-1, -2] },
      { op: 'write', path: 's', sel: [[0, 1]], data: ['🙂'] },
    ],
  },
]

test('mixed history: ten rounds alternating Node and Python on one file read identically on both sides, every version', async (t) => {
  const file = tmpFile('mixed')
  const hist = new History()
  for (const r of MIXED) {
    const dump = await play(file, hist, r)
    // After every round: Node reads every version so far, and after every Python round
    // Python does too (its dump covers the Node versions before it).
    await checkNode(t, file, hist)
    if (dump) checkPython(t, dump, hist)
  }
  t.is(hist.current, 'v10')
  // Commit times agree too: Python's stored strings are Node's microseconds.
  const last = pyx<PyDump>('dump', file)
  const vf = VersionedFile.open(file, { mode: 'r' })
  const fmt = (us: bigint) => new Date(Number(us / 1000n)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '') + `.${String(us % 1000000n).padStart(6, '0')}+0000`
  t.deepEqual(Object.fromEntries(vf.history().map((h) => [h.name, fmt(h.timestampMicros)])), Object.fromEntries(Object.entries(last.versions).map(([v, e]) => [v, e.timestamp])))
  vf.close()
  t.deepEqual(Object.keys(hist.states.get('v10')!).sort(), ['f32c', 'f64', 'fx', 'g/b', 'i64', 'm/i32', 's', 'tmp'])
  // Every hash table in the file is plain SHA-256 (Node created its datasets with hash: 'sha256').
  for (const [p, tb] of Object.entries(tables(file))) t.false('hash_function' in tb.attrs, p)
})

// --- 4. deduplication across the two writers (SHA-256) ---------------------------------

// Five datasets covering numeric 1-D and 2-D (edge chunks on both axes), variable-length
// and fixed strings, and bool (its last chunk is a one-element all-fill edge chunk,
// which both libraries store). No full-size chunk equals the fill value: Python's legacy
// engine (a whole-dataset write) stores such a chunk while the staged engine and this
// library leave it unmapped, which would add a slot without any hash being involved.
const DEDUP_V1: Op[] = [
  { op: 'create', path: 'num', dtype: 'float64', shape: [23], chunks: [5], data: range(23, (i) => i * 0.5 + 1) },
  { op: 'create', path: 'grid', dtype: 'int16', shape: [7, 5], chunks: [3, 2], data: range(35, (i) => i + 1) },
  { op: 'create', path: 'str', dtype: 'string', shape: [10], chunks: [4], data: ['a', 'ü', '', '日本語', '🙂', '', 'long'.repeat(10), 'x', 'y', 'z'] },
  { op: 'create', path: 'fix', dtype: 'S4', shape: [6], chunks: [4], data: ['ab', '', 'abcd', 'x', 'yy', ''] },
  { op: 'create', path: 'flag', dtype: 'bool', shape: [7], chunks: [3], data: [1, 0, 1, 1, 1, 0, 0] },
]
// New content for one chunk of each (the source of the "resuscitation" writes below).
const DEDUP_V2: Op[] = [
  { op: 'write', path: 'num', sel: [[0, 5]], data: [-1, -2, -3, -4, -5] },
  { op: 'write', path: 'grid', sel: [[0, 3], [0, 2]], data: [-1, -2, -3, -4, -5, -6] },
  { op: 'write', path: 'str', sel: [[4, 8]], data: ['changed', 'ß', '', '✓'] },
  { op: 'write', path: 'fix', sel: [[0, 4]], data: ['zz', 'z', 'zzzz', ''] },
  { op: 'write', path: 'flag', sel: [[3, 6]], data: [0, 1, 0] },
]

/** Writes of a dataset's whole content, as it is in `tree` (values unchanged). */
const wholeRewrite = (tree: Tree): Op[] => Object.entries(tree).map(([path, d]) => ({ op: 'write', path, sel: d.shape.map((n) => [0, n] as [number, number]), data: [...d.data] }))

/** Partial rewrites of unchanged values, first and last (edge) chunks included. */
function partialRewrite(tree: Tree): Op[] {
  const box = (path: string, sel: Sel): Op => {
    const d = tree[path]
    return { op: 'write', path, sel, data: boxIndices(d.shape, sel).map((i) => d.data[i]) }
  }
  return [
    box('num', [[0, 5]]), box('num', [[20, 23]]),
    box('grid', [[0, 3], [0, 2]]), box('grid', [[6, 7], [4, 5]]), box('grid', [[3, 6], [4, 5]]),
    box('str', [[0, 4]]), box('str', [[8, 10]]),
    box('fix', [[4, 6]]),
    box('flag', [[0, 3]]), box('flag', [[6, 7]]),
  ]
}

/** Writes of each dataset's v1 content into the chunk v2 changed: not in the parent,
 * but stored in raw_data by the other library, so only a matching hash can find it. */
function resuscitate(v1: Tree): Op[] {
  return DEDUP_V2.map((op) => {
    const w = op as Extract<Op, { op: 'write' }>
    return { op: 'write', path: w.path, sel: w.sel, data: boxIndices(v1[w.path].shape, w.sel).map((i) => v1[w.path].data[i]) }
  })
}

test('dedup Node -> Python: Python rewriting SHA-256 data Node wrote (whole, partial, or bringing back old chunks) adds no raw_data slots', async (t) => {
  const file = tmpFile('dedup-n2p')
  const hist = new History()
  await play(file, hist, { writer: 'node', name: 'v1', ops: DEDUP_V1 })
  await play(file, hist, { writer: 'node', name: 'v2', ops: DEDUP_V2 })
  const before = tables(file)
  t.deepEqual(Object.keys(before).sort(), ['fix', 'flag', 'grid', 'num', 'str'])
  // Slots: num 5 + 1, grid 9 + 1, str 3 + 1, fix 2 + 1, flag 3 + 1.
  t.deepEqual(rowCounts(before), { num: 6 * 5, grid: 10 * 3, str: 4 * 4, fix: 3 * 4, flag: 4 * 3 })
  for (const tb of Object.values(before)) t.false('hash_function' in tb.attrs)

  const rounds: Array<[string, Op[]]> = [
    ['p3-whole', wholeRewrite(hist.states.get('v2')!)], // legacy engine: hashlib over every chunk
    ['p4-partial', partialRewrite(hist.states.get('v2')!)], // staged engine: hash_slab over touched chunks
    ['p5-resuscitate', resuscitate(hist.states.get('v1')!)], // content only in Node's v1 slots
  ]
  for (const [name, ops] of rounds) {
    const dump = await play(file, hist, { writer: 'python', name, ops })
    t.deepEqual(tables(file), before, `${name}: hash tables and raw_data unchanged`)
    checkPython(t, dump!, hist)
  }
  // p5 reads exactly v1 again, on both sides.
  t.deepEqual(hist.states.get('p5-resuscitate'), hist.states.get('v1'))
  await checkNode(t, file, hist)
})

test('dedup Python -> Node: Node rewriting data Python wrote (whole, re-created, or bringing back old chunks) adds no raw_data slots', async (t) => {
  const file = tmpFile('dedup-p2n')
  const hist = new History()
  await play(file, hist, { writer: 'python', name: 'v1', ops: DEDUP_V1 })
  await play(file, hist, { writer: 'python', name: 'v2', ops: DEDUP_V2 })
  const before = tables(file)
  t.deepEqual(rowCounts(before), { num: 6 * 5, grid: 10 * 3, str: 4 * 4, fix: 3 * 4, flag: 4 * 3 })
  const v2 = hist.states.get('v2')!
  // Re-creating each path with the same settings and the same data: every chunk hashed.
  const recreate: Op[] = DEDUP_V1.map((op) => {
    const c = op as Extract<Op, { op: 'create' }>
    return { ...c, data: [...v2[c.path].data] }
  })
  const rounds: Array<[string, Op[]]> = [
    ['n3-whole', wholeRewrite(v2)],
    ['n4-recreate', recreate],
    ['n5-partial', partialRewrite(v2)],
    ['n6-resuscitate', resuscitate(hist.states.get('v1')!)],
  ]
  for (const [name, ops] of rounds) {
    await play(file, hist, { writer: 'node', name, ops })
    t.deepEqual(tables(file), before, `${name}: hash tables and raw_data unchanged`)
  }
  t.deepEqual(hist.states.get('n6-resuscitate'), hist.states.get('v1'))
  await checkNode(t, file, hist)
  checkPython(t, pyx<PyDump>('dump', file), hist)
})

// --- 4. a BLAKE3 dataset (Node's default) that Python writes to ---------------------------

test('BLAKE3 datasets written by Python: data stays correct both ways; each side deduplicates only against its own hash function', async (t) => {
  const file = tmpFile('blake3-mixed')
  const hist = new History()
  await play(file, hist, {
    writer: 'node',
    name: 'v1',
    ops: [
      { op: 'create', path: 'b3', dtype: 'float64', shape: [12], chunks: [4], data: range(12, (i) => i + 1), hash: 'blake3' },
      { op: 'create', path: 'b3s', dtype: 'string', shape: [6], chunks: [3], data: ['a', 'ü', '', 'x', 'yy', '日本'], hash: 'blake3' },
    ],
  })
  const rows = () => rowCounts(tables(file))
  const marks = () => Object.fromEntries(Object.entries(tables(file)).map(([k, v]) => [k, v.attrs.hash_function]))
  t.deepEqual(rows(), { b3: 3 * 4, b3s: 2 * 3 })
  t.deepEqual(marks(), { b3: 'blake3', b3s: 'blake3' })

  // Python (staged engine) writes new content into one chunk of each: one new slot each,
  // a SHA-256 row appended to the BLAKE3-marked table, which keeps its mark.
  checkPython(t, (await play(file, hist, {
    writer: 'python',
    name: 'v2',
    ops: [
      { op: 'write', path: 'b3', sel: [[4, 8]], data: [50, 51, 52, 53] },
      { op: 'write', path: 'b3s', sel: [[0, 3]], data: ['p', 'q', 'r'] },
    ],
  }))!, hist)
  t.deepEqual(rows(), { b3: 4 * 4, b3s: 3 * 3 })
  t.deepEqual(marks(), { b3: 'blake3', b3s: 'blake3' })
  await checkNode(t, file, hist)

  // Python rewrites everything unchanged (legacy engine, SHA-256 of every chunk): the
  // chunks Node wrote have only BLAKE3 rows, so each gets a new slot (no dedup across
  // hash functions); the chunk Python wrote in v2 is found by its SHA-256 row.
  checkPython(t, (await play(file, hist, { writer: 'python', name: 'v3', ops: wholeRewrite(hist.states.get('v2')!) }))!, hist)
  t.deepEqual(rows(), { b3: (4 + 2) * 4, b3s: (3 + 1) * 3 })
  await checkNode(t, file, hist)

  // Node writes Node's v1 content into one chunk (its BLAKE3 row is found: no slot) and
  // Python's v2 content into another (only a SHA-256 row exists: one new slot).
  await play(file, hist, {
    writer: 'node',
    name: 'v4',
    ops: [
      { op: 'write', path: 'b3', sel: [[4, 8]], data: [5, 6, 7, 8] },
      { op: 'write', path: 'b3', sel: [[8, 12]], data: [50, 51, 52, 53] },
      { op: 'write', path: 'b3s', sel: [[0, 3]], data: ['a', 'ü', ''] },
      { op: 'write', path: 'b3s', sel: [[3, 6]], data: ['p', 'q', 'r'] },
    ],
  })
  t.deepEqual(rows(), { b3: (6 + 1) * 4, b3s: (4 + 1) * 3 })
  await checkNode(t, file, hist)

  // Python writes its own v2 content again elsewhere: found by SHA-256 (no slot).
  checkPython(t, (await play(file, hist, {
    writer: 'python',
    name: 'v5',
    ops: [
      { op: 'write', path: 'b3', sel: [[0, 4]], data: [50, 51, 52, 53] },
      { op: 'write', path: 'b3s', sel: [[3, 6]], data: ['p', 'q', 'r'] },
    ],
  }))!, hist)
  t.deepEqual(rows(), { b3: 7 * 4, b3s: 5 * 3 })
  t.deepEqual(marks(), { b3: 'blake3', b3s: 'blake3' })
  await checkNode(t, file, hist)
})

// --- 5. Python's maintenance functions on files written here ------------------------------

test("Python's delete_versions on a Node file: versions, prev_version rewiring, current version and data read correctly here; Node then adds a version", async (t) => {
  const file = tmpFile('delete')
  const hist = new History()
  const node = (name: string, ops: Op[], prev?: string) => play(file, hist, { writer: 'node', name, prev, ops })
  await node('v1', [
    { op: 'create', path: 'a', dtype: 'float64', shape: [10], chunks: [4], data: range(10, (i) => i) },
    { op: 'create', path: 'grp/s', dtype: 'string', shape: [5], chunks: [2], data: ['ä', '', 'bb', '日本', 'e'] },
    { op: 'create', path: 'm', dtype: 'int32', shape: [5, 5], chunks: [2, 3], fill: 3, data: range(25, (i) => i * 2) },
    { op: 'create', path: 'b3', dtype: 'int16', shape: [6], chunks: [4], data: [1, 2, 3, 4, 5, 6], hash: 'blake3' },
  ])
  await node('v2', [
    { op: 'write', path: 'a', sel: [[0, 4]], data: [-1, -2, -3, -4] },
    { op: 'write', path: 'grp/s', sel: [[0, 2]], data: ['v2', 'only'] },
    { op: 'write', path: 'm', sel: [[4, 5], [3, 5]], data: [-7, -8] },
    { op: 'write', path: 'b3', sel: [[0, 2]], data: [-1, -2] },
  ])
  await node('b1', [{ op: 'write', path: 'm', sel: [[0, 2], [0, 3]], data: [9, 9, 9, 9, 9, 9] }], 'v2')
  await node('v3', [
    { op: 'resize', path: 'a', shape: [13] },
    { op: 'write', path: 'a', sel: [[10, 13]], data: [10, 11, 12] },
  ], 'v2')
  await node('v4', [
    { op: 'write', path: 'grp/s', sel: [[4, 5]], data: ['v4'] },
    { op: 'write', path: 'b3', sel: [[4, 6]], data: [40, 60] },
  ])
  await node('v5', [
    { op: 'create', path: 'gone', dtype: 'float64', shape: [3], chunks: [2], data: [1, 2, 3] },
    { op: 'write', path: 'a', sel: [[0, 1]], data: [100] },
  ])
  t.is(hist.current, 'v5')
  await checkNode(t, file, hist)
  // a: v1 3 slots, v2 1 (chunk 0), v3 2 (the grown chunk 2 and the new chunk 3), v5 1.
  t.is(tables(file).a.largest_index, 7)

  // Python deletes v2 (the parent of b1 and v3) and v5 (the current version, the only
  // one holding 'gone').
  const dump = pyx<PyDump>('delete', file, ['v2', 'v5'])
  hist.states.delete('v2')
  hist.states.delete('v5')
  hist.parents.set('b1', 'v1')
  hist.parents.set('v3', 'v1')
  hist.current = 'v4'
  const kept = ['b1', 'v1', 'v3', 'v4']
  checkPython(t, dump, hist, kept)
  await checkNode(t, file, hist, kept)
  {
    const vf = VersionedFile.open(file, { mode: 'r' })
    t.deepEqual([...vf.versions].sort(), kept)
    t.deepEqual(Object.fromEntries(vf.history().map((h) => [h.name, h.prevVersion])), { v1: '__first_version__', b1: 'v1', v3: 'v1', v4: 'v3' })
    t.is(vf.version(0).name, 'v4')
    t.is(vf.version(-1).name, 'v3')
    t.is(vf.version(-2).name, 'v1')
    await throwsCode(t, () => vf.version('v2'), 'VERSION_NOT_FOUND')
    await throwsCode(t, () => vf.version('v5'), 'VERSION_NOT_FOUND')
    vf.close()
  }
  // raw_data compacted to the slots the kept versions use; 'gone' lost its data group.
  const tb = tables(file)
  t.deepEqual(Object.keys(tb).sort(), ['a', 'b3', 'grp/s', 'm'])
  const c0: Record<string, number> = { a: 4, b3: 4, 'grp/s': 2, m: 2 }
  for (const [p, x] of Object.entries(tb)) {
    t.is(x.raw_rows, x.largest_index * c0[p], p)
    t.deepEqual(x.rows.map((r) => r[1]), range(x.largest_index, (i) => i * c0[p]), `${p}: slots renumbered in order`)
  }
  // a: only v5's slot goes (v3 still uses v2's chunk 0).
  t.is(tb.a.largest_index, 6)
  // Python rebuilt the BLAKE3 table without this library's 'hash_function' mark (its
  // delete_versions recreates every hash table it compacts, copying the old digests):
  // from now on the table reads as SHA-256 here, so the old BLAKE3 rows can no longer
  // match anything (no dedup against them; data unaffected).
  t.false('hash_function' in tb.b3.attrs)

  // Node adds a version: content of kept slots is found through Python's rewritten
  // SHA-256 table (no new slot); the BLAKE3-era b3 rows are not (one new slot).
  const slotsBefore = slotCounts(tb)
  await node('v6', [
    { op: 'write', path: 'a', sel: [[4, 8]], data: [-1, -2, -3, -4] }, // == v3's chunk 0 (slot kept)
    { op: 'write', path: 'grp/s', sel: [[2, 4]], data: ['ä', ''] }, // == v1's chunk 0
    { op: 'write', path: 'm', sel: [[4, 5], [3, 5]], data: [46, 48] }, // == v1's corner chunk (v2 changed it)
    { op: 'write', path: 'b3', sel: [[0, 4]], data: [1, 2, 3, 4] }, // == v1's chunk 0, a BLAKE3 row
  ])
  const tb6 = tables(file)
  t.deepEqual(slotCounts(tb6), { ...slotsBefore, b3: slotsBefore.b3 + 1 })
  t.deepEqual(rowCounts(tb6), { a: 6 * 4, b3: (slotsBefore.b3 + 1) * 4, 'grp/s': slotsBefore['grp/s'] * 2, m: slotsBefore.m * 2 })
  const after = [...kept, 'v6']
  await checkNode(t, file, hist, after)
  checkPython(t, pyx<PyDump>('dump', file), hist, after)
})

test("Python's modify_metadata on a Node file (compression, fill value, chunks, dtype): the result reads correctly here, and Node then adds a version", async (t) => {
  const file = tmpFile('modify')
  const hist = new History()
  const node = (name: string, ops: Op[]) => play(file, hist, { writer: 'node', name, ops })
  await node('v1', [
    { op: 'create', path: 'c', dtype: 'float64', shape: [10], chunks: [4], compression: 'gzip', compression_opts: 5, data: range(10, (i) => i / 4) },
    { op: 'create', path: 'f', dtype: 'int32', shape: [9], chunks: [4], data: [0, 1, 0, 2, 0, 0, 0, 0, 3] },
    { op: 'create', path: 'k', dtype: 'float64', shape: [11], chunks: [4], data: range(11, (i) => i + 0.5), hash: 'blake3' },
    { op: 'create', path: 'd', dtype: 'int16', shape: [6], chunks: [4], data: [1, -2, 3, -4, 5, -6] },
    { op: 'create', path: 'n/x', dtype: 'float32', shape: [5, 4], chunks: [2, 3], data: range(20, (i) => i * 0.5) },
  ])
  await node('v2', [
    { op: 'write', path: 'c', sel: [[8, 10]], data: [-1, -2] },
    { op: 'resize', path: 'f', shape: [12] }, // a chunk never written: implicit fill value
    { op: 'write', path: 'f', sel: [[0, 1]], data: [5] },
    { op: 'write', path: 'k', sel: [[4, 6]], data: [-4, -5] },
    { op: 'write', path: 'd', sel: [[5, 6]], data: [600] },
    { op: 'write', path: 'n/x', sel: [[4, 5], [3, 4]], data: [99] },
  ])
  await checkNode(t, file, hist)

  const dump = pyx<ModifyResult>('modify', file, [
    ['c', { compression: 'lzf', compression_opts: null }],
    ['f', { fillvalue: 7 }],
    ['k', { chunks: [3] }],
    ['d', { dtype: 'int64' }],
    ['n/x', { chunks: [3, 2], compression: 'gzip', compression_opts: 2 }],
  ])
  // The model of what modify_metadata promises (for every version).
  for (const tree of hist.states.values()) {
    Object.assign(tree.c, { compression: 'lzf', compressionLevel: null })
    tree.f.data = tree.f.data.map((v) => (v === 0 ? 7 : v))
    tree.f.fill = 7
    tree.k.chunks = [3]
    tree.d.dtype = 'int64'
    tree.d.data = tree.d.data.map(String)
    tree.d.fill = '0'
    Object.assign(tree['n/x'], { chunks: [3, 2], compression: 'gzip', compressionLevel: 2 })
  }
  t.deepEqual(dump.dcpl_errors, {})
  t.is(dump.rplus_error, undefined)
  checkPython(t, dump, hist)
  await checkNode(t, file, hist)
  // Python recomputed every table with SHA-256: k (BLAKE3 before) lost its mark with
  // its BLAKE3 digests, so it is consistent again.
  const tb = tables(file)
  for (const [p, x] of Object.entries(tb)) t.false('hash_function' in x.attrs, p)

  // Node adds a version with the new settings; content already stored is found.
  const slots = slotCounts(tb)
  await node('v3', [
    { op: 'write', path: 'c', sel: [[0, 4]], data: [9, 9, 9, 9] }, // new: 1 slot
    { op: 'write', path: 'f', sel: [[8, 12]], data: [7, 7, 7, 1] }, // new: 1 slot
    { op: 'write', path: 'k', sel: [[0, 3]], data: [3.5, -4, -5] }, // == v2's chunk 1 under chunks (3,)
    { op: 'resize', path: 'd', shape: [7] },
    { op: 'write', path: 'd', sel: [[6, 7]], data: ['9007199254740993'] }, // int64 now: 2**53 + 1
    { op: 'write', path: 'n/x', sel: [[0, 3], [0, 2]], data: [1, 2, 3, 4, 5, 6] },
  ])
  const tb3 = tables(file)
  t.is(tb3.k.largest_index, slots.k, 'k: no new slot (Python SHA-256 row found)')
  // New slots go at largest_index (Python 2.6's rule): rows of raw_data past it that no
  // version maps (modify_metadata leaves spare ones) are overwritten, and the table
  // stays without holes.
  t.is(tb3.c.largest_index, tb.c.largest_index + 1, 'c: one new slot')
  t.is(tb3.f.largest_index, tb.f.largest_index + 1, 'f: one new slot')
  for (const [p, x] of Object.entries(tb3)) t.true(x.rows.slice(0, x.largest_index).every((r, i) => i === 0 || r[1] > 0), `${p}: no hole`)
  {
    const vf = VersionedFile.open(file, { mode: 'r' })
    t.deepEqual(vf.verifySync().problems, [], 'verify() is clean')
    vf.close()
  }
  for (const [p, x] of Object.entries(tb3)) t.true(x.rows.every((r) => r[2] <= x.raw_rows), p)
  await checkNode(t, file, hist)
  checkPython(t, pyx<PyDump>('dump', file), hist)
  // The fixed settings follow Python's change: the old chunks are now incompatible.
  const vf = VersionedFile.open(file, { mode: 'r+' })
  await throwsCode(t, () => vf.stageVersion('bad', (g) => void g.createDataset('k', { data: [1], chunks: [4] })), 'INCOMPATIBLE_DATASET')
  await throwsCode(t, () => vf.stageVersion('bad', (g) => void g.createDataset('c', { data: [1], chunks: [4], compression: 'gzip', compressionLevel: 5 })), 'INCOMPATIBLE_DATASET')
  vf.close()
})

test("Python's rebuild_hashtables on a Node file yields exactly the SHA-256 rows written here (hash and (start, stop))", async (t) => {
  const file = tmpFile('rebuild')
  const hist = new History()
  const node = (name: string, ops: Op[], prev?: string) => play(file, hist, { writer: 'node', name, prev, ops })
  await node('v1', [
    ...DEDUP_V1,
    { op: 'create', path: 'deep/er/x', dtype: 'uint8', shape: [4, 5, 3], chunks: [3, 2, 2], data: range(60, (i) => (i * 37) % 256) },
    { op: 'create', path: 'b3', dtype: 'float64', shape: [9], chunks: [4], data: range(9, (i) => i + 1), hash: 'blake3' },
  ])
  await node('v2', [...DEDUP_V2, { op: 'write', path: 'deep/er/x', sel: [[3, 4], [4, 5], [2, 3]], data: [255] }, { op: 'resize', path: 'b3', shape: [11] }])
  await node('v3', [
    { op: 'resize', path: 'num', shape: [27] },
    { op: 'write', path: 'num', sel: [[24, 27]], data: [1, 2, 3] },
    { op: 'resize', path: 'grid', shape: [8, 6] },
    { op: 'resize', path: 'str', shape: [9] },
    { op: 'write', path: 'b3', sel: [[0, 4]], data: [0, 0, 0, 1] },
  ], 'v1')
  const before = tables(file)
  const after = pyx<Record<string, Table>>('rebuild', file)
  const sorted = (rows: Array<[string, number, number]>) => [...rows].sort((a, b) => a[1] - b[1])
  t.deepEqual(Object.keys(after).sort(), Object.keys(before).sort())
  for (const p of Object.keys(before)) {
    if (p === 'b3') continue
    t.false('hash_function' in before[p].attrs, p)
    t.is(after[p].largest_index, before[p].largest_index, `${p}: same number of rows`)
    // Rebuilt rows come in version-traversal order; as a set they are exactly ours.
    t.deepEqual(sorted(after[p].rows), sorted(before[p].rows), `${p}: same (hash, start, stop) rows`)
  }
  // The BLAKE3 table is rebuilt as a plain SHA-256 one: same slots, new digests, no mark.
  t.is(before.b3.attrs.hash_function, 'blake3')
  t.false('hash_function' in after.b3.attrs)
  t.deepEqual(sorted(after.b3.rows).map((r) => r.slice(1)), sorted(before.b3.rows).map((r) => r.slice(1)))
  t.true(sorted(after.b3.rows).every((r, i) => r[0] !== sorted(before.b3.rows)[i][0]))
  // Node then deduplicates against the rebuilt tables, b3 included.
  await node('v4', [
    { op: 'write', path: 'b3', sel: [[0, 4]], data: [1, 2, 3, 4] }, // == v1's chunk 0
    { op: 'write', path: 'num', sel: [[0, 5]], data: [-1, -2, -3, -4, -5] }, // == v2's chunk 0
  ])
  t.deepEqual(rowCounts(tables(file)), rowCounts(after))
  await checkNode(t, file, hist)
  checkPython(t, pyx<PyDump>('dump', file), hist)
})

// modify_metadata on a variable-length string dataset. versioned-hdf5 2.4.0 (with the
// venv's h5py 3.16 / HDF5 2.0) re-creates each version's VDS in replay.swap() passing the
// old VDS's h5py fill value; for vlen strings the fill value stored that way is not a
// valid global-heap reference (it changes from run to run: "bad heap index, heap object
// = {55d8, 0}", "address of object past end of allocation", ...), so H5Dget_create_plist
// fails on the dataset in every version — in files Python wrote itself just the same.
// The data still reads through the VDS with H5Dread (plain h5py in mode 'r', h5dump),
// and so it does here: reads fall back to libhdf5's virtual-dataset engine.
// Each failing H5Dget_create_plist costs libhdf5 seconds of metadata retries, so both
// tests share one pair of single-version files.
const STR_V1: Op[] = [{ op: 'create', path: 's', dtype: 'string', shape: [5], chunks: [2], data: ['a', 'ü', '', 'long text', '日本'] }]
let stringModifyMemo: Promise<Array<{ writer: string; file: string; hist: History; result: ModifyResult }>> | undefined

function stringModifyFiles(): Promise<Array<{ writer: string; file: string; hist: History; result: ModifyResult }>> {
  stringModifyMemo ??= (async () => {
    const out = []
    for (const writer of ['node', 'python'] as const) {
      const file = tmpFile(`modify-str-${writer}`)
      const hist = new History()
      await play(file, hist, { writer, name: 'v1', ops: STR_V1 })
      const result = pyx<ModifyResult>('modify', file, [['s', { chunks: [3] }]])
      hist.states.get('v1')!.s.chunks = [3]
      out.push({ writer, file, hist, result })
    }
    return out
  })()
  return stringModifyMemo
}

test("modify_metadata on a vlen-string dataset: Python's result is damaged identically in a Node-written and a Python-written file (a Python-side bug)", async (t) => {
  for (const { writer, hist, result } of await stringModifyFiles()) {
    // Through the VDS (plain h5py, mode 'r') the data is right ...
    t.deepEqual(result.versions.v1.datasets.s.data, hist.states.get('v1')!.s.data, writer)
    t.deepEqual(result.versions.v1.datasets.s.chunks, [3], writer)
    // ... but the creation properties cannot be read any more, whoever wrote the file,
    // and so versioned-hdf5's own r+ reader (InMemoryDataset) fails on it too.
    t.deepEqual(Object.keys(result.dcpl_errors), ['v1/s'], writer)
    t.regex(result.dcpl_errors['v1/s'], /^RuntimeError: Unable to get dataset creation properties/, writer)
    t.regex(result.rplus_error ?? '', /^RuntimeError: Unable to get dataset creation properties/, writer)
  }
})

test('modify_metadata on a vlen-string dataset: Node reads the data h5py reads through the VDS, despite the damaged creation properties', async (t) => {
  const got: Record<string, unknown> = {}
  const want: Record<string, unknown> = {}
  for (const { writer, file, hist } of await stringModifyFiles()) {
    const vf = VersionedFile.open(file, { mode: 'r' })
    try {
      got[writer] = await vf.version('v1').dataset('s').read().then(normArr, (e: Error & { code?: string }) => `${e.code}: ${e.message}`)
      want[writer] = hist.states.get('v1')!.s.data
    } finally {
      vf.close()
    }
  }
  t.deepEqual(got, want, 'Node-written and Python-written file, after Python modify_metadata(chunks=(3,))')
})

// --- 6. hash agreement on files Python wrote -------------------------------------------

interface ChunkRow {
  hash: string
  start: number
  stop: number
  ref: { version: string; path: string; start: number[]; extent: number[]; src_stop: number; py_hash: string } | null
}
type ChunkTables = Record<string, { dtype: string; hash_function: string | null; rows: ChunkRow[] }>

/**
 * This library's SHA-256 of each referenced hash-table row's chunk, in row order.
 *
 * There is no public "hash this chunk" call, and deduplication cannot serve as the
 * oracle: it only says whether *some* row matched (or the engine may skip a chunk equal
 * to its parent without hashing it), and cannot reach rows no version of a new commit
 * would touch. So each chunk becomes a dataset of its own in a probe file: the chunk's
 * elements as this library reads them from the Python file (exact bits: typed arrays,
 * not JSON), with shape = the chunk's edge-trimmed extent and chunks = that same shape,
 * created with hash: 'sha256'. Its one hash-table row is then this library's SHA-256 of
 * (payload, shape string) — the very input the format hashes (spec §2.2-2.3) — and h5py
 * reads it back. Two details keep every probe chunk stored: numeric/bool chunks that are
 * all zero get fill value 1 (a full chunk equal to the fill value is not stored), and an
 * all-'' string chunk is made an edge chunk (chunks one larger on axis 0; the trimmed
 * shape, hence the hash input, is unchanged), since '' is the only string fill value.
 */
async function ourHashes(source: string, tb: ChunkTables): Promise<Record<string, string[]>> {
  const probes: Array<{ ds: string; name: string; dtype: string; shape: number[]; chunks: number[]; data: unknown; fill?: number | bigint | boolean }> = []
  const vf = VersionedFile.open(source, { mode: 'r' })
  try {
    for (const [ds, x] of Object.entries(tb)) {
      for (const row of x.rows) {
        if (!row.ref) throw new Error(`${ds}: row ${row.start}..${row.stop} is referenced by no version`)
        const d = vf.version(row.ref.version).dataset(row.ref.path)
        const extent = row.ref.extent
        const data = await d.read(row.ref.start.map((s, ax) => [s, s + extent[ax]] as [number, number]))
        const vals = Array.from(data as ArrayLike<unknown>)
        let chunks = [...extent]
        let fill: number | bigint | boolean | undefined
        if (isStr(d.dtype)) {
          if (vals.every((v) => v === '')) chunks = [extent[0] + 1, ...extent.slice(1)]
        } else if (vals.every((v) => (typeof v === 'bigint' ? v === 0n : v === 0))) {
          fill = is64(d.dtype) ? 1n : d.dtype === 'bool' ? true : 1
        }
        probes.push({ ds, name: `p${probes.length}`, dtype: d.dtype, shape: extent, chunks, data, fill })
      }
    }
  } finally {
    vf.close()
  }
  const probeFile = tmpFile('probe')
  const pf = VersionedFile.open(probeFile, { mode: 'w' })
  await pf.stageVersion('probe', (g) => {
    for (const p of probes) g.createDataset(p.name, { data: p.data as never, shape: p.shape, dtype: p.dtype, chunks: p.chunks, fillValue: p.fill, hash: 'sha256' })
  })
  pf.close()
  const got = tables(probeFile)
  const out: Record<string, string[]> = {}
  for (const p of probes) {
    const row = got[p.name]
    if (row.largest_index !== 1 || 'hash_function' in row.attrs) throw new Error(`probe ${p.name} (${p.ds}): ${JSON.stringify(row)}`)
    ;(out[p.ds] ??= []).push(row.rows[0][0])
  }
  return out
}

test('hash agreement: our SHA-256 of every chunk of every hash table Python wrote equals the stored hash (numeric 1-D/N-D with edge chunks, bool, fixed and vlen strings)', async (t) => {
  const file = tmpFile('hashset')
  pyx('write-hash-set', file)
  const tb = pyx<ChunkTables>('chunks', file)
  const dtypes = Object.fromEntries(Object.entries(tb).map(([k, v]) => [k, v.dtype]))
  t.deepEqual(dtypes, {
    b: 'bool', 'num/f2': 'float16', 'num/f4': 'float32', 'num/f8': 'float64', 'num/i2': 'int16', 'num/i4_fill': 'int32', 'num/i8': 'int64',
    'num/u1_3d': 'uint8', 'num/u8': 'uint64', 's/fixed': 'S5', 's/fixed_utf8': 'utf8[6]', 's/vlen': 'string', 's/vlen_2d': 'string', 's/vlen_ascii': 'ascii',
  })
  let n = 0
  const ours = await ourHashes(file, tb)
  for (const [ds, x] of Object.entries(tb)) {
    t.is(x.hash_function, null, ds)
    const stored = x.rows.map((r) => r.hash)
    t.deepEqual(x.rows.map((r) => r.ref!.py_hash), stored, `${ds}: Python's own hash (sanity)`)
    t.deepEqual(ours[ds], stored, `${ds}: our hash of every chunk`)
    n += stored.length
  }
  t.true(n >= 80, `${n} chunks compared`)
  // Edge chunks of every kind were among them (trimmed on axis 0, on later axes, both).
  const edges = Object.values(tb).flatMap((x) => x.rows.map((r) => r.ref!.extent.join('x')))
  for (const e of ['3', '1x2', '2x1', '1x1', '2x3x2', '2x1x2', '1x1x1', '1x3x1']) t.true(edges.includes(e), `edge extent ${e}`)
})

test('hash agreement on the Python fixtures: numeric tables match; the generation-1 string tables do not (they hashed object addresses), while our hash equals what Python computes today', async (t) => {
  const files = ['object_dtype_bad_hashtable_data.h5', 'object_dtype_bad_hashtable_data2.h5', 'object_dtype_bad_hashtable_chunk_reuse_unicode.h5', 'object_dtype_bad_hashtable_chunk_reuse_multi_dim.h5']
  let strings = 0
  let numeric = 0
  for (const f of files) {
    const copy = tmpFile('fixture')
    copyFileSync(join(FIXTURES, f), copy)
    const tb = pyx<ChunkTables>('chunks', copy)
    const ours = await ourHashes(copy, tb)
    for (const [ds, x] of Object.entries(tb)) {
      const stored = x.rows.map((r) => r.hash)
      const today = x.rows.map((r) => r.ref!.py_hash)
      t.deepEqual(ours[ds], today, `${f} ${ds}: our hash == versioned-hdf5 2.4's hash of the same chunk`)
      if (x.dtype === 'string') {
        // Generation 1 (no data_version) hashed the object array's pointers (spec §1.11).
        ours[ds].forEach((h, i) => t.not(h, stored[i], `${f} ${ds} row ${i}: a generation-1 string hash`))
        strings += stored.length
      } else {
        t.deepEqual(ours[ds], stored, `${f} ${ds}: numeric hashes never changed`)
        numeric += stored.length
      }
    }
  }
  t.is(numeric, 2)
  t.is(strings, 1 + 5 + 11 + 44)
})
