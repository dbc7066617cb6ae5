// Rich interop, both directions, each side checked against a model of what was written:
//
// 1. Node writes a 23-version history (every dtype, nested groups, attributes of every
//    kind on versions/groups/datasets, sparse and resized datasets, gzip/lzf/shuffle/
//    fletcher32, branches, a second root, explicit microsecond timestamps). The test
//    keeps its own model of every version; Node itself, Python versioned-hdf5 2.4
//    (VersionedHDF5File over h5py.File 'r' and, separately, 'r+') and plain h5py 3.7
//    (Debian, through each version's virtual datasets) must all agree with that model.
// 2. Python versioned-hdf5 writes a similar history through its own API and prints the
//    model of what it wrote (after checking that it reads it back itself); Node must
//    read exactly that model.
//
// __test__/py/interop_rich.py is the Python side. Values travel as JSON with floats
// 'NaN'/'Infinity'/'-Infinity'/'-0' as strings, 64-bit integers as decimal strings,
// and dataset data run-length encoded ([[value, count], ...], C order), so every
// element is compared while a 1.2e6-element sparse dataset stays small.
//
// Checks are collected rather than stopped at the first failure, so one failing
// property does not hide the others; each test fails listing every failed check.
import test, { type ExecutionContext } from 'ava'
import { execFileSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { isDeepStrictEqual, inspect } from 'node:util'

import { VersionedFile, type Dataset, type StagedGroup, type Version } from '../index.js'
import { PYTHON, tmpFile, vpy } from './helpers.js'
import { flatOffsets } from './support/selection.js'

const SCRIPT = join(__dirname, 'py', 'interop_rich.py')

// ---------------------------------------------------------------------------------
// Values and their JSON encoding (the same rules as interop_rich.py)

type Val = number | bigint | boolean | string
type AttrV = number | bigint | boolean | string | Array<number | bigint | boolean> | string[]
type Enc = number | string | boolean
type Rle = Array<[Enc, number]>
interface AttrEnc {
  dtype: string
  array: boolean
  value: Enc | Enc[]
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER
const isStringDtype = (d: string) => d === 'string' || d === 'ascii' || /^S\d+$/.test(d) || /^utf8\[\d+\]$/.test(d)
const is64 = (d: string) => d === 'int64' || d === 'uint64'
const isFloat = (d: string) => d === 'float16' || d === 'float32' || d === 'float64'
const prod = (shape: number[]) => shape.reduce((a, b) => a * b, 1)

function encFloat(x: number): Enc {
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return 'Infinity'
  if (x === -Infinity) return '-Infinity'
  if (Object.is(x, -0)) return '-0'
  return x
}
function decFloat(e: Enc): number {
  if (e === 'NaN') return NaN
  if (e === 'Infinity') return Infinity
  if (e === '-Infinity') return -Infinity
  if (e === '-0') return -0
  return e as number
}

/** The encoder of elements of dtype `d` (as the Python side encodes them). */
function encoder(d: string): (v: Val) => Enc {
  if (isFloat(d)) return (v) => encFloat(Number(v))
  if (is64(d)) return (v) => String(v)
  if (d === 'bool') return (v) => Boolean(v)
  if (isStringDtype(d)) return (v) => String(v)
  return (v) => Number(v)
}

/** One element of dtype `d`, encoded. */
const enc = (d: string, v: Val): Enc => encoder(d)(v)

/** Run-length encoding of encoded elements (C order), merging equal neighbours. */
function rle<T>(values: ArrayLike<T>, f: (v: T) => Enc = (v) => v as Enc): Rle {
  const out: Rle = []
  let last: [Enc, number] | undefined
  for (let i = 0; i < values.length; i++) {
    const v = f(values[i])
    if (last && last[0] === v) last[1] += 1
    else out.push((last = [v, 1]))
  }
  return out
}

/** A JS attribute value as Python sees it (integers as int64, fractions as float64; attrs.rs). */
function attrToPy(v: AttrV): AttrEnc {
  const isInt = (x: unknown) => typeof x === 'bigint' || (typeof x === 'number' && Number.isInteger(x) && Math.abs(x) <= MAX_SAFE)
  if (Array.isArray(v)) {
    const items = v as unknown[]
    if (items.length > 0 && items.every((x) => typeof x === 'string')) return { dtype: 'string', array: true, value: items as string[] }
    if (items.length > 0 && items.every((x) => typeof x === 'boolean')) return { dtype: 'bool', array: true, value: items as boolean[] }
    if (items.every(isInt)) return { dtype: 'int64', array: true, value: items.map((x) => String(x)) }
    return { dtype: 'float64', array: true, value: items.map((x) => encFloat(Number(x))) }
  }
  if (typeof v === 'string') return { dtype: 'string', array: false, value: v }
  if (typeof v === 'boolean') return { dtype: 'bool', array: false, value: v }
  if (isInt(v)) return { dtype: 'int64', array: false, value: String(v) }
  return { dtype: 'float64', array: false, value: encFloat(Number(v)) }
}

/** The value Node's Attributes return for a stored int64 (numbers when safe, else bigint). */
const jsInt = (x: bigint): number | bigint => (x >= -BigInt(MAX_SAFE) && x <= BigInt(MAX_SAFE) ? Number(x) : x)

/** What Node's attrs.get returns for a value Node wrote. */
function attrToJs(v: AttrV): AttrV {
  const one = (x: number | bigint | boolean): number | bigint | boolean =>
    typeof x === 'bigint' ? jsInt(x) : x
  if (Array.isArray(v)) {
    const items = v as unknown[]
    if (items.every((x) => typeof x === 'string')) return items as string[]
    const e = attrToPy(v)
    if (e.dtype === 'float64') return items.map((x) => Number(x))
    return (items as Array<number | bigint | boolean>).map(one)
  }
  return typeof v === 'string' ? v : one(v)
}

/** What Node's attrs.get must return for an attribute Python wrote (as the model encodes it). */
function pyAttrToJs(a: AttrEnc): AttrV {
  const one = (x: Enc): number | bigint | boolean | string => {
    if (a.dtype === 'string' || a.dtype === 'bytes') return x as string
    if (a.dtype === 'bool') return x as boolean
    if (a.dtype.startsWith('float')) return decFloat(x)
    return jsInt(BigInt(x as number | string))
  }
  return a.array ? ((a.value as Enc[]).map(one) as AttrV) : (one(a.value as Enc) as AttrV)
}

/** Float16 rounding (nearest, ties to even), as NumPy's float16. */
function f16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x
  const a = Math.abs(x)
  if (a >= 65520) return Math.sign(x) * Infinity
  let e = Math.floor(Math.log2(a))
  if (2 ** e > a) e -= 1
  if (2 ** (e + 1) <= a) e += 1
  const ulp = 2 ** (Math.max(e, -14) - 10)
  const q = a / ulp
  let r = Math.round(q)
  if (r - q === 0.5 && r % 2 === 1) r -= 1 // Math.round rounds .5 up: make it even
  const out = r * ulp
  return x < 0 ? -out : out === 0 ? 0 : out
}

/** Fixed-length strings: cut to n bytes, trailing NULs dropped (README "Dtypes"). */
function fixedStr(s: string, n: number): string {
  return Buffer.from(s, 'utf8').subarray(0, n).toString('utf8').replace(/\0+$/, '')
}

/** A raw value as it is stored in (and reads back from) a dataset of dtype `d`. */
function coerce(d: string, v: Val): Val {
  if (d === 'float16') return f16(Number(v))
  if (d === 'float32') return Math.fround(Number(v))
  if (d === 'float64') return Number(v)
  if (is64(d)) return BigInt(v)
  if (d === 'bool') return Boolean(v)
  const m = /^S(\d+)$/.exec(d) ?? /^utf8\[(\d+)\]$/.exec(d)
  if (m) return fixedStr(String(v), Number(m[1]))
  if (isStringDtype(d)) return String(v)
  return Number(v)
}

const TYPED: Record<string, string> = {
  int8: 'Int8Array', int16: 'Int16Array', int32: 'Int32Array', int64: 'BigInt64Array',
  uint8: 'Uint8Array', uint16: 'Uint16Array', uint32: 'Uint32Array', uint64: 'BigUint64Array',
  float16: 'Float32Array', float32: 'Float32Array', float64: 'Float64Array', bool: 'Uint8Array',
}

/** Data for Node's write/createDataset: the typed array of the dtype (or a plain array). */
function toNode(d: string, raw: Val[], plain = false): ArrayLike<number | bigint | boolean> | string[] {
  if (isStringDtype(d)) return raw.map(String)
  if (plain) return raw.map(Number)
  switch (d) {
    case 'int8': return Int8Array.from(raw, Number)
    case 'int16': return Int16Array.from(raw, Number)
    case 'int32': return Int32Array.from(raw, Number)
    case 'int64': return BigInt64Array.from(raw, (x) => BigInt(x))
    case 'uint8': return Uint8Array.from(raw, Number)
    case 'uint16': return Uint16Array.from(raw, Number)
    case 'uint32': return Uint32Array.from(raw, Number)
    case 'uint64': return BigUint64Array.from(raw, (x) => BigInt(x))
    case 'float16': return Float64Array.from(raw, Number) // rounded by the library
    case 'float32': return Float32Array.from(raw, Number)
    case 'float64': return Float64Array.from(raw, Number)
    case 'bool': return Uint8Array.from(raw, (x) => (x ? 1 : 0))
  }
  throw new Error(`no JS data for ${d}`)
}

/** What Node's read() returned, as model values, after checking its container type. */
function fromNode(d: string, got: unknown): ArrayLike<Val> {
  if (isStringDtype(d)) {
    if (!Array.isArray(got) || !got.every((s) => typeof s === 'string')) throw new Error(`a ${d} dataset must read as string[], got ${kind(got)}`)
    return got as string[]
  }
  if (kind(got) !== TYPED[d]) throw new Error(`a ${d} dataset must read as ${TYPED[d]}, got ${kind(got)}`)
  if (d === 'bool') {
    const arr = Array.from(got as Uint8Array)
    if (!arr.every((x) => x === 0 || x === 1)) throw new Error('a bool dataset must read as 0/1')
    return arr.map((x) => x === 1)
  }
  return got as ArrayLike<number | bigint>
}

function kind(v: unknown): string {
  if (Array.isArray(v)) return 'Array'
  if (ArrayBuffer.isView(v)) return v.constructor.name
  return v === null ? 'null' : typeof v
}

/** 'YYYY-MM-DD HH:MM:SS.ffffff+0000' (spec §1.4) of microseconds since the epoch. */
function tsString(us: bigint): string {
  const ms = us / 1000n
  const iso = new Date(Number(ms)).toISOString() // YYYY-MM-DDTHH:MM:SS.mmmZ
  const frac = String(us % 1_000_000n).padStart(6, '0')
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${frac}+0000`
}

// ---------------------------------------------------------------------------------
// Selections (README "Selections"), implemented independently for the model

type Sel = Array<number | null | [number | null, number | null] | [number | null, number | null, number | null] | { indices: number[] }>

function axisIndices(n: number, s: Sel[number] | undefined): number[] {
  if (s === undefined || s === null) return Array.from({ length: n }, (_, i) => i)
  if (typeof s === 'number') return [s < 0 ? s + n : s]
  if (!Array.isArray(s)) return s.indices.map((i) => (i < 0 ? i + n : i))
  const norm = (x: number | null, dflt: number) => (x === null ? dflt : Math.min(Math.max(x < 0 ? x + n : x, 0), n))
  const start = norm(s[0], 0)
  const stop = norm(s[1], n)
  const step = s.length > 2 && s[2] !== null ? (s[2] as number) : 1
  const out: number[] = []
  for (let i = start; i < stop; i += step) out.push(i)
  return out
}

/** Flat C-order positions a selection covers. */
function selPositions(shape: number[], sel: Sel): number[] {
  return flatOffsets(
    shape,
    shape.map((n, axis) => axisIndices(n, sel[axis])),
  )
}

// ---------------------------------------------------------------------------------
// The model of what the Node test writes

interface Meta {
  dtype: string
  chunks: number[]
  fill: Val
  compression: string | null
  level: number | null
  shuffle: boolean
  fletcher32: boolean
}
interface Entry {
  meta: Meta
  shape: number[]
  data: Val[]
  attrs: Record<string, AttrV>
}
interface VModel {
  name: string
  prev: string
  ts: bigint
  attrs: Record<string, AttrV>
  groups: Map<string, Record<string, AttrV>>
  datasets: Map<string, Entry>
}

interface CreateOpts {
  data?: Val[]
  shape?: number[]
  dtype: string
  chunks: number[]
  fill?: Val
  compression?: 'gzip' | 'lzf'
  level?: number
  shuffle?: boolean
  fletcher32?: boolean
  plain?: boolean
}

/** Applies each operation both to the staged Node group and to the model. */
class Stage {
  private owned = new Set<string>()
  constructor(
    readonly g: StagedGroup,
    readonly v: VModel,
  ) {}

  private parents(path: string): void {
    const parts = path.split('/')
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('/')
      if (!this.v.groups.has(p)) this.v.groups.set(p, {})
    }
  }

  /** The entry of `path`, copied once per version (copy on write). */
  private own(path: string): Entry {
    const e = this.v.datasets.get(path)
    if (!e) throw new Error(`model: no dataset ${path}`)
    if (this.owned.has(path)) return e
    const copy: Entry = { meta: e.meta, shape: [...e.shape], data: e.data.slice(), attrs: { ...e.attrs } }
    this.v.datasets.set(path, copy)
    this.owned.add(path)
    return copy
  }

  create(path: string, o: CreateOpts): void {
    const d = o.dtype
    const fill = o.fill !== undefined ? coerce(d, o.fill) : coerce(d, isStringDtype(d) ? '' : d === 'bool' ? false : 0)
    const shape = o.shape ?? [o.data!.length]
    this.g.createDataset(path, {
      ...(o.data ? { data: toNode(d, o.data, o.plain) as never } : {}),
      shape: o.shape,
      dtype: d,
      chunks: o.chunks,
      ...(o.fill !== undefined ? { fillValue: (is64(d) ? BigInt(o.fill) : o.fill) as never } : {}),
      ...(o.compression ? { compression: o.compression } : {}),
      ...(o.level !== undefined ? { compressionLevel: o.level } : {}),
      ...(o.shuffle ? { shuffle: true } : {}),
      ...(o.fletcher32 ? { fletcher32: true } : {}),
    })
    this.parents(path)
    this.v.datasets.set(path, {
      meta: {
        dtype: d,
        chunks: o.chunks,
        fill,
        compression: o.compression ?? null,
        level: o.compression === 'gzip' ? (o.level ?? 4) : null,
        shuffle: o.shuffle === true,
        fletcher32: o.fletcher32 === true,
      },
      shape,
      data: o.data ? o.data.map((x) => coerce(d, x)) : new Array(prod(shape)).fill(fill),
      attrs: {},
    })
    this.owned.add(path)
  }

  write(path: string, sel: Sel, raw: Val[] | Val): void {
    const e = this.own(path)
    const d = e.meta.dtype
    const pos = selPositions(e.shape, sel)
    if (Array.isArray(raw)) {
      if (raw.length !== pos.length) throw new Error(`model: ${raw.length} values for ${pos.length} positions`)
      pos.forEach((p, i) => (e.data[p] = coerce(d, raw[i])))
      this.g.dataset(path).write(sel, toNode(d, raw) as never)
    } else {
      for (const p of pos) e.data[p] = coerce(d, raw)
      this.g.dataset(path).write(sel, (is64(d) ? BigInt(raw) : raw) as never)
    }
  }

  resize(path: string, shape: number[], axis?: number): void {
    const e = this.own(path)
    const next = axis === undefined ? shape : e.shape.map((n, i) => (i === (axis < 0 ? axis + e.shape.length : axis) ? shape[0] : n))
    const data: Val[] = new Array(prod(next)).fill(e.meta.fill)
    const box = e.shape.map((n, i) => Math.min(n, next[i]))
    for (const p of selPositions(box, [])) {
      // position p in the box → coordinates → positions in the old and new arrays
      let rest = p
      let oldPos = 0
      let newPos = 0
      const coords = box.map(() => 0)
      for (let i = box.length - 1; i >= 0; i--) {
        coords[i] = rest % box[i]
        rest = Math.floor(rest / box[i])
      }
      coords.forEach((c, i) => {
        oldPos = oldPos * e.shape[i] + c
        newPos = newPos * next[i] + c
      })
      data[newPos] = e.data[oldPos]
    }
    e.shape = next
    e.data = data
    const ds = this.g.dataset(path)
    // Every documented form: resize([..]), resize(n) (1-D; used for odd n), resize(n, { axis }).
    if (axis !== undefined) ds.resize(shape[0], { axis })
    else if (shape.length === 1 && shape[0] % 2 === 1) ds.resize(shape[0])
    else ds.resize(shape)
  }

  delete(path: string): void {
    this.g.delete(path)
    for (const k of [...this.v.datasets.keys()]) if (k === path || k.startsWith(path + '/')) this.v.datasets.delete(k)
    for (const k of [...this.v.groups.keys()]) if (k === path || k.startsWith(path + '/')) this.v.groups.delete(k)
  }

  group(path: string): void {
    this.g.createGroup(path)
    this.parents(path + '/x')
  }

  vattr(k: string, val: AttrV): void {
    this.g.attrs.set(k, val)
    this.v.attrs[k] = val
  }

  gattr(path: string, k: string, val: AttrV): void {
    this.g.group(path).attrs.set(k, val)
    this.v.groups.get(path)![k] = val
  }

  dattr(path: string, k: string, val: AttrV): void {
    this.g.dataset(path).attrs.set(k, val)
    this.own(path).attrs[k] = val
  }

  ddel(path: string, k: string): void {
    if (!this.g.dataset(path).attrs.delete(k)) throw new Error(`model: no attribute ${k} on ${path}`)
    delete this.own(path).attrs[k]
  }
}

interface NodeHistory {
  file: string
  versions: VModel[]
  byName: Map<string, VModel>
  current: string
  /** Every dataset path ever created, with its fixed settings. */
  paths: Map<string, Meta>
}

const BASE_US = 1_700_000_000_000_000n

async function writeNodeHistory(): Promise<NodeHistory> {
  const file = tmpFile('rich-node')
  const vf = VersionedFile.open(file, { mode: 'w' })
  const versions: VModel[] = []
  const byName = new Map<string, VModel>()
  const paths = new Map<string, Meta>()
  let step = 0
  let current = '__first_version__'

  async function stage(name: string, build: (s: Stage) => void, opts: { prev?: string; makeCurrent?: boolean } = {}): Promise<void> {
    step += 1
    const ts = BASE_US + BigInt(step) * 3_600_000_123n + 7n
    const prevName = opts.prev === undefined ? current : opts.prev === '' ? '__first_version__' : opts.prev
    const parent = byName.get(prevName)
    const v: VModel = {
      name,
      prev: prevName,
      ts,
      attrs: {},
      groups: new Map([...(parent?.groups ?? new Map())].map(([k, a]) => [k, { ...a }])),
      datasets: new Map(parent?.datasets ?? []),
    }
    const info = await vf.stageVersion(name, (g) => build(new Stage(g, v)), {
      ...(opts.prev !== undefined ? { prevVersion: opts.prev } : {}),
      ...(opts.makeCurrent !== undefined ? { makeCurrent: opts.makeCurrent } : {}),
      timestamp: ts,
    })
    if (info.name !== name || info.timestampMicros !== ts || info.prevVersion !== prevName) {
      throw new Error(`stageVersion returned ${inspect(info)}`)
    }
    versions.push(v)
    byName.set(name, v)
    for (const [p, e] of v.datasets) if (!paths.has(p)) paths.set(p, e.meta)
    if (opts.makeCurrent !== false) current = name
  }

  const seq = (n: number, f: (i: number) => Val) => Array.from({ length: n }, (_, i) => f(i))

  await stage('v01', (s) => {
    s.create('ints/i8', { dtype: 'int8', data: [-128, 127, 0, -1, 5, 100, -100], chunks: [3], fill: -7 })
    s.create('ints/i16', { dtype: 'int16', data: [-32768, 32767, 0, 300, -300], chunks: [2], plain: true })
    s.create('ints/i32', { dtype: 'int32', data: [-2147483648, 2147483647, 0, 7, 8, 9, 10, 11], chunks: [4], fill: 123456, compression: 'gzip', level: 1 })
    s.create('ints/i64', { dtype: 'int64', data: [-(2n ** 63n), 2n ** 63n - 1n, 0n, 2n ** 53n + 1n, -5n], chunks: [2], fill: -9n })
    s.create('uints/u8', { dtype: 'uint8', data: [0, 255, 17], chunks: [2], fill: 255 })
    s.create('uints/u16', { dtype: 'uint16', data: [0, 65535, 4096, 1], chunks: [3], plain: true })
    s.create('uints/u32', { dtype: 'uint32', data: [0, 4294967295, 2 ** 31], chunks: [2], fill: 4294967295 })
    s.create('uints/u64', { dtype: 'uint64', data: [0n, 2n ** 64n - 1n, 2n ** 63n, 12345678901234567890n], chunks: [3], fill: 2n ** 64n - 1n })
    s.create('floats/f16', { dtype: 'float16', data: [0.5, -2, 65504, 1 / 3, 1e-8, NaN, Infinity, -Infinity, -0, 2049, 2051, 0.1, 6e-8, 65520], chunks: [4], fill: 1.5 })
    s.create('floats/f32', { dtype: 'float32', data: [1.1, -0, NaN, Infinity, 3.4e38, 1e-45, 1 / 3], chunks: [3], fill: NaN, compression: 'gzip', level: 6, shuffle: true })
    s.create('floats/f64', { dtype: 'float64', data: [0.1, -0, NaN, -Infinity, Infinity, 1.7976931348623157e308, 5e-324, 1 / 3, -2.5e-310], chunks: [4], fill: -Infinity, compression: 'lzf' })
    s.create('flags', { dtype: 'bool', data: [true, false, true, true, false], chunks: [2], fill: true })
    s.create('text/utf8', { dtype: 'string', data: ['héllo', '', 'wörld ✓', '😀 emoji', 'x'.repeat(50), '日本語'], chunks: [4] })
    s.create('text/ascii', { dtype: 'ascii', data: ['abc', '', 'de f', '~!'], chunks: [3] })
    s.create('text/fixed', { dtype: 'S8', data: ['abcdefgh', 'overlong-string', '', 'x'], chunks: [2], fill: 'zz' })
    s.create('text/futf8', { dtype: 'utf8[12]', data: ['ünï', 'plain', 'abcdefghijklmnop', '€€€€'], chunks: [3] })
    s.create('grid/m2d', { dtype: 'float64', shape: [7, 9], data: seq(63, (i) => i * 0.5 - 3), chunks: [3, 4], compression: 'gzip', level: 9, shuffle: true })
    s.create('grid/cube', { dtype: 'int32', shape: [4, 5, 6], data: seq(120, (i) => i - 60), chunks: [2, 3, 4], compression: 'lzf' })
    s.create('filters/fl', { dtype: 'uint16', data: seq(50, (i) => i * 7), chunks: [16], fletcher32: true })
    s.create('filters/gz0', { dtype: 'int16', data: seq(30, (i) => i - 15), chunks: [10], compression: 'gzip', level: 0 })
    s.create('filters/lzfs', { dtype: 'float32', data: seq(20, (i) => i / 8), chunks: [8], compression: 'lzf', shuffle: true, fletcher32: true })
    s.create('sparse/big', { dtype: 'float64', shape: [1_000_000], chunks: [1000], fill: -1 })
    s.write('sparse/big', [5], 2.5)
    s.create('sparse/s2d', { dtype: 'int16', shape: [1000, 800], chunks: [100, 100], fill: 42 })
    s.create('resized/r1', { dtype: 'int64', data: seq(10, (i) => BigInt(i + 1)), chunks: [4] })
    s.group('meta/deep/er/est')
    s.gattr('meta', 'owner', 'node')
    s.gattr('meta', 'n', 3)
    s.gattr('meta/deep', 'ratio', 0.75)
    s.gattr('ints', 'big', 2n ** 62n)
    s.gattr('ints', 'list', [1, 2, 3])
    s.dattr('ints/i8', 'unit', 'm/s')
    s.dattr('ints/i8', 'scale', 0.25)
    s.dattr('grid/m2d', 'axes', ['row', 'col'])
    s.dattr('grid/m2d', 'origin', [0.5, -1.5])
    s.dattr('text/utf8', 'lang', 'ünïcode ✓')
    s.vattr('author', 'node')
    s.vattr('n', 1)
    s.vattr('f', 2.5)
    s.vattr('nan', NaN)
    s.vattr('inf', Infinity)
    s.vattr('ninf', -Infinity)
    s.vattr('flag', true)
    s.vattr('off', false)
    s.vattr('big', 2n ** 62n)
    s.vattr('min64', -(2n ** 63n) + 1n) // -2^63 itself: see the isolated test at the end
    s.vattr('small', 5n)
    s.vattr('empty', '')
    s.vattr('ints', [1, -2, 3])
    s.vattr('bigs', [1n, 2n ** 62n, -(2n ** 63n) + 1n, 2n ** 63n - 1n])
    s.vattr('floats', [0.5, NaN, Infinity, -1e300])
    s.vattr('bools', [true, false, true])
    s.vattr('strs', ['a', 'ünï', ''])
    s.vattr('none', [])
  })
  await stage('v02', (s) => {
    s.write('ints/i8', [[0, 3]], [9, 8, 7])
    s.write('ints/i16', [-1], [-2])
    s.write('floats/f16', [[0, 3, 2]], [0.1, 1e5])
    s.write('uints/u8', [1], [3])
    s.vattr('n', 2)
  })
  await stage('v03', (s) => {
    s.write('sparse/big', [999_999], 7)
    s.write('sparse/big', [[500_000, 500_010]], seq(10, (i) => i * 1.25))
    s.write('sparse/s2d', [[150, 250], [10, 20]], seq(1000, (i) => (i % 300) - 150))
    s.write('sparse/s2d', [-1, -1], -42)
    s.vattr('stage', 'sparse')
  })
  await stage('v04', (s) => {
    s.resize('grid/m2d', [12, 10])
    s.write('grid/m2d', [[9, 12], [7, 10]], 9)
  })
  await stage('v05', (s) => {
    s.resize('grid/m2d', [5, 6])
    s.resize('grid/cube', [7], 2)
    s.write('grid/cube', [null, 0, 6], seq(4, (i) => 1000 + i))
    s.dattr('grid/m2d', 'resized', true)
  })
  await stage('v06', (s) => {
    s.resize('resized/r1', [3])
    s.resize('text/utf8', [8])
    s.write('text/utf8', [6], ['neu ñ'])
    s.resize('text/fixed', [5])
    s.resize('flags', [7])
  })
  await stage('v07', (s) => {
    s.resize('grid/m2d', [9, 13])
    s.delete('filters/gz0')
    s.group('tmp/a/b')
    s.gattr('tmp/a/b', 'tags', ['x', 'y'])
    s.gattr('tmp', 'count', 3n)
  })
  // A branch from v05 that is not made current, and a child of it.
  await stage(
    'b1',
    (s) => {
      s.write('ints/i8', [0], [1])
      s.create('branch/only', { dtype: 'int32', data: [1, 2, 3], chunks: [2] })
      s.write('grid/m2d', [0, 0], -1)
      s.vattr('branch', true)
    },
    { prev: 'v05', makeCurrent: false },
  )
  await stage('b2', (s) => s.resize('branch/only', [6]), { prev: 'b1', makeCurrent: false })
  await stage('v08', (s) => {
    s.resize('resized/r1', [12])
    s.write('resized/r1', [11], [99n])
  })
  await stage('v09', (s) => {
    s.create('filters/gz0', { dtype: 'int16', data: seq(12, (i) => 100 - i), chunks: [10], compression: 'gzip', level: 0 })
    s.resize('sparse/big', [1_200_000])
  })
  await stage('v10', (s) => {
    s.write('ints/i32', [{ indices: [7, 0, 3] }], [-1, -2, -3])
    s.write('grid/cube', [[0, 4, 2], null, 1], -9)
    s.write('uints/u16', [-1], 9)
  })
  await stage('v11', (s) => {
    s.delete('tmp/a')
    s.gattr('meta', 'owner', 'node-2')
    s.gattr('meta/deep/er/est', 'leaf', true)
    s.dattr('ints/i8', 'unit', 'km/h')
  })
  await stage('v12', (s) => {
    s.resize('sparse/s2d', [1000, 1000])
    s.write('sparse/s2d', [[0, 1], [900, 1000]], seq(100, (i) => i))
    s.ddel('ints/i8', 'scale')
  })
  await stage('v13', (s) => {
    s.write('floats/f64', [[1, 3]], [NaN, 1e-300])
    s.write('floats/f32', [0], [0.3])
  })
  await stage('v14', (s) => {
    s.write('text/ascii', [{ indices: [3, 0] }], ['Z', 'Y'])
    s.write('text/futf8', [1], ['çava'])
    s.write('text/fixed', [4], ['new'])
  })
  await stage('v15', (s) => {
    s.write('uints/u64', [[0, 2]], [1n, 2n ** 64n - 2n])
    s.write('ints/i64', [-1], [2n ** 62n])
    s.write('uints/u32', [[null, null, 2]], [5, 6])
  })
  await stage('v16', (s) => s.write('flags', [[0, 7, 3]], [false, false, false]))
  await stage('v17', (s) => s.write('grid/m2d', [null, 0], 1.5))
  await stage('v18', (s) => s.resize('resized/r1', [0]))
  await stage('v19', (s) => {
    s.resize('resized/r1', [5])
    s.write('resized/r1', [[0, 2]], [5n, 6n])
  })
  await stage('v20', (s) => {
    s.write('filters/lzfs', [[10, 20]], seq(10, (i) => -i))
    s.write('filters/fl', [[0, 50, 7]], 65535)
    s.vattr('last', 'yes')
  })
  // A second root: no parent, not current; re-creates a path with the same settings.
  await stage(
    'r0',
    (s) => {
      s.create('ints/i8', { dtype: 'int8', data: [1, 2], chunks: [3], fill: -7 })
      s.create('solo', { dtype: 'float64', data: [0.5], chunks: [2] })
      s.vattr('root', 'second')
    },
    { prev: '', makeCurrent: false },
  )
  vf.close()
  return { file, versions, byName, current, paths }
}

// ---------------------------------------------------------------------------------
// Collecting checks

class Checks {
  readonly failures: string[] = []
  count = 0
  eq(label: string, actual: unknown, expected: unknown): void {
    this.count += 1
    if (isDeepStrictEqual(actual, expected)) return
    const plain = (o: unknown): o is Record<string, unknown> => o !== null && typeof o === 'object' && Object.getPrototypeOf(o) === Object.prototype
    if (plain(actual) && plain(expected)) {
      // Name the keys that differ (attribute sets, mostly).
      const keys = [...new Set([...Object.keys(actual), ...Object.keys(expected)])].sort()
      const diff = keys.filter((k) => !isDeepStrictEqual(actual[k], expected[k]))
      this.failures.push(`${label}: ${diff.map((k) => `[${k}] actual ${short(actual[k])}, expected ${short(expected[k])}`).join('; ')}`)
    } else {
      this.failures.push(`${label}:\n    actual   ${short(actual)}\n    expected ${short(expected)}`)
    }
  }
  run(label: string, fn: () => void): void {
    try {
      fn()
    } catch (e) {
      this.count += 1
      const err = e as Error & { code?: string }
      this.failures.push(`${label}: threw ${err.code ? `[${err.code}] ` : ''}${err.message}`)
    }
  }
  finish(t: ExecutionContext): void {
    t.log(`${this.count - this.failures.length} of ${this.count} checks passed`)
    t.true(this.count > 0)
    t.deepEqual(this.failures.slice(0, 60), [], `${this.failures.length} of ${this.count} checks failed`)
  }
}

function short(v: unknown): string {
  const s = inspect(v, { depth: 6, breakLength: Infinity, maxArrayLength: 30 })
  return s.length > 600 ? s.slice(0, 600) + '…' : s
}

// ---------------------------------------------------------------------------------
// Expected Python views of the Node model

const NPDTYPE: Record<string, string> = {
  int8: '|i1', int16: '<i2', int32: '<i4', int64: '<i8', uint8: '|u1', uint16: '<u2', uint32: '<u4', uint64: '<u8',
  float16: '<f2', float32: '<f4', float64: '<f8', bool: '|b1', string: '|O', ascii: '|O',
}
const npdtype = (d: string) => NPDTYPE[d] ?? `|S${/(\d+)\]?$/.exec(d)![1]}`

const rleCache = new WeakMap<Val[], Rle>()
function entryRle(e: Entry): Rle {
  let r = rleCache.get(e.data)
  if (!r) {
    r = rle(e.data, encoder(e.meta.dtype))
    rleCache.set(e.data, r)
  }
  return r
}

const encAttrs = (a: Record<string, AttrV>) => Object.fromEntries(Object.keys(a).sort().map((k) => [k, attrToPy(a[k])]))

interface PyDataset {
  dtype: string
  npdtype: string
  shape: number[]
  chunks: number[] | null
  compression: string | null
  compression_opts: number | null
  shuffle: boolean
  fletcher32: boolean
  attrs: Record<string, AttrEnc>
  attr_raw_data: string | null
  attr_chunks: number[] | null
  fillvalue?: Enc
  data: Rle
  virtual?: boolean
}
interface PyVersion {
  prev_version: string
  committed: boolean
  timestamp: string
  attrs: Record<string, AttrEnc>
  groups: Record<string, Record<string, AttrEnc>>
  datasets: Record<string, PyDataset>
}
interface PyRaw {
  dtype: string
  npdtype: string
  chunks: number[]
  maxshape: Array<number | null>
  attr_chunks: number[]
  compression: string | null
  compression_opts: number | null
  shuffle: boolean
  fletcher32: boolean
  largest_index: number
  fillvalue?: Enc
}
interface PyDump {
  versions?: string[]
  current_version: string
  data_version: number
  chain?: string[]
  by_timestamp?: Record<string, string>
  first_version_attrs?: string[]
  v: Record<string, PyVersion>
  raw: Record<string, PyRaw>
}

/** Compares a Python dump of the Node-written file with the model. */
function checkPyDump(c: Checks, h: NodeHistory, dump: PyDump, reader: 'r' | 'r+' | 'h5py'): void {
  const names = h.versions.map((v) => v.name)
  const L = (s: string) => `[${reader}] ${s}`
  c.eq(L('current_version'), dump.current_version, h.current)
  c.eq(L('data_version'), dump.data_version, 4)
  c.eq(L('version groups'), Object.keys(dump.v).sort(), [...names].sort())
  if (reader !== 'h5py') {
    c.eq(L('vf.versions'), [...dump.versions!].sort(), [...names].sort())
    const chain: string[] = []
    for (let n = h.current; n !== '__first_version__'; n = h.byName.get(n)!.prev) chain.push(n)
    c.eq(L('vf[0], vf[-1], … chain'), dump.chain, chain)
    c.eq(L('get_version_by_timestamp(exact=True)'), dump.by_timestamp, Object.fromEntries(names.map((n) => [n, n])))
  } else {
    c.eq(L('__first_version__ attrs'), dump.first_version_attrs, ['timestamp'])
  }
  for (const v of h.versions) {
    const pv = dump.v[v.name]
    if (!pv) continue
    const V = (s: string) => L(`${v.name} ${s}`)
    c.eq(V('prev_version'), pv.prev_version, v.prev)
    c.eq(V('committed'), pv.committed, true)
    c.eq(V('timestamp'), pv.timestamp, tsString(v.ts))
    c.eq(V('attrs'), pv.attrs, encAttrs(v.attrs))
    c.eq(V('groups'), Object.keys(pv.groups).sort(), [...v.groups.keys()].sort())
    for (const [g, a] of v.groups) if (pv.groups[g]) c.eq(V(`group ${g} attrs`), pv.groups[g], encAttrs(a))
    c.eq(V('dataset paths'), Object.keys(pv.datasets).sort(), [...v.datasets.keys()].sort())
    for (const [p, e] of v.datasets) {
      const d = pv.datasets[p]
      if (!d) continue
      const D = (s: string) => V(`${p} ${s}`)
      const m = e.meta
      c.eq(D('dtype'), d.dtype, m.dtype)
      c.eq(D('numpy dtype'), d.npdtype, npdtype(m.dtype))
      c.eq(D('shape'), d.shape, e.shape)
      // In 'r' mode (and plain h5py) a version dataset is an h5py VDS: no chunks or
      // filters of its own (spec §1.9); the 'r+' objects report raw_data's.
      const own = reader === 'r+'
      c.eq(D('chunks'), d.chunks, own ? m.chunks : null)
      c.eq(D('compression'), d.compression, own ? m.compression : null)
      c.eq(D('compression_opts'), d.compression_opts, own ? m.level : null)
      c.eq(D('shuffle'), d.shuffle, own ? m.shuffle : false)
      c.eq(D('fletcher32'), d.fletcher32, own ? m.fletcher32 : false)
      c.eq(D('attrs'), d.attrs, encAttrs(e.attrs))
      c.eq(D("attrs['raw_data']"), d.attr_raw_data, `/_version_data/${p}/raw_data`)
      c.eq(D("attrs['chunks']"), d.attr_chunks, m.chunks)
      const vlen = m.dtype === 'string' || m.dtype === 'ascii'
      if (reader === 'h5py' && vlen) c.eq(D('fillvalue (not read: h5py 3.7)'), 'fillvalue' in d, false)
      else c.eq(D('fillvalue'), d.fillvalue, enc(m.dtype, m.fill))
      c.eq(D('data'), d.data, entryRle(e))
      if (reader === 'h5py') {
        const fillEnc = enc(m.dtype, m.fill)
        if (entryRle(e).some(([x]) => x !== fillEnc)) c.eq(D('is_virtual'), d.virtual, true)
      }
    }
  }
  c.eq(L('data groups'), Object.keys(dump.raw).sort(), [...h.paths.keys()].sort())
  for (const [p, m] of h.paths) {
    const r = dump.raw[p]
    if (!r) continue
    const R = (s: string) => L(`raw_data of ${p} ${s}`)
    c.eq(R('dtype'), r.dtype, m.dtype)
    c.eq(R('numpy dtype'), r.npdtype, npdtype(m.dtype))
    c.eq(R('chunks'), r.chunks, m.chunks)
    c.eq(R('maxshape'), r.maxshape, [null, ...m.chunks.slice(1)])
    c.eq(R("attrs['chunks']"), r.attr_chunks, m.chunks)
    c.eq(R('compression'), r.compression, m.compression)
    c.eq(R('compression_opts'), r.compression_opts, m.level)
    c.eq(R('shuffle'), r.shuffle, m.shuffle)
    c.eq(R('fletcher32'), r.fletcher32, m.fletcher32)
    const vlen = m.dtype === 'string' || m.dtype === 'ascii'
    if (!(reader === 'h5py' && vlen)) c.eq(R('fillvalue'), r.fillvalue, enc(m.dtype, m.fill))
  }
}

function h5pyDump(file: string): PyDump {
  const env = { ...process.env, HDF5_USE_FILE_LOCKING: 'FALSE' }
  const out = execFileSync(PYTHON, [SCRIPT, 'h5py', file], { encoding: 'utf8', maxBuffer: 256 << 20, env })
  return JSON.parse(out) as PyDump
}

// ---------------------------------------------------------------------------------
// 1. Node writes, everyone reads

let nodeHistory: Promise<NodeHistory> | undefined
const history = () => (nodeHistory ??= writeNodeHistory())

test('Node writes a rich 23-version history; Node reads back exactly the model', async (t) => {
  const h = await history()
  const c = new Checks()
  const vf = VersionedFile.open(h.file, { mode: 'r' })
  try {
    const names = h.versions.map((v) => v.name)
    c.eq('versions (oldest first)', vf.versions, names)
    c.eq('currentVersion', vf.currentVersion, h.current)
    c.eq(
      'history()',
      vf.history().map((i) => [i.name, i.prevVersion, i.timestampMicros, i.timestamp.getTime()]),
      h.versions.map((v) => [v.name, v.prev, v.ts, Number(v.ts / 1000n)]),
    )
    const chain: string[] = []
    for (let n = h.current; n !== '__first_version__'; n = h.byName.get(n)!.prev) chain.push(n)
    c.run('version(0), version(-n)', () => c.eq('version(-n) chain', chain.map((_, i) => vf.version(-i).name), chain))
    for (const v of h.versions) {
      c.run(`${v.name} versionAt`, () => {
        c.eq(`${v.name} versionAt(exact)`, vf.versionAt(v.ts, { exact: true }).name, v.name)
        c.eq(`${v.name} versionAt(string + 1µs)`, vf.versionAt(tsString(v.ts + 1n).replace(' ', 'T').replace('+0000', 'Z')).name, v.name)
      })
    }
    for (const v of h.versions) {
      const ver = vf.version(v.name)
      const V = (s: string) => `${v.name} ${s}`
      c.eq(V('prevVersion'), ver.prevVersion, v.prev)
      c.eq(V('timestampMicros'), ver.timestampMicros, v.ts)
      c.eq(V('attrs'), ver.attrs.toObject(), Object.fromEntries(Object.entries(v.attrs).map(([k, a]) => [k, attrToJs(a)])))
      c.eq(V('datasets()'), ver.datasets(), [...v.datasets.keys()].sort())
      c.eq(V('groups'), nodeGroups(ver), [...v.groups.keys()].sort())
      for (const [g, a] of v.groups) {
        c.run(V(`group ${g}`), () => c.eq(V(`group ${g} attrs`), ver.group(g).attrs.toObject(), Object.fromEntries(Object.entries(a).map(([k, x]) => [k, attrToJs(x)]))))
      }
      for (const [p, e] of v.datasets) {
        c.run(V(p), () => {
          const d = ver.dataset(p)
          checkNodeDataset(c, V(p), d, {
            ...e.meta,
            fill: e.meta.fill,
            shape: e.shape,
            attrs: Object.fromEntries(Object.entries(e.attrs).map(([k, a]) => [k, attrToJs(a)])),
            data: entryRle(e),
          })
        })
      }
    }
  } finally {
    vf.close()
  }
  c.finish(t)
})

for (const mode of ['r', 'r+'] as const) {
  test(`Python versioned-hdf5 (h5py.File '${mode}') reads the Node-written history as the model`, async (t) => {
    const h = await history()
    const c = new Checks()
    const dump = vpy<PyDump>(SCRIPT, 'vh5', h.file, mode)
    checkPyDump(c, h, dump, mode)
    c.finish(t)
  })
}

test("plain h5py (Debian's 3.7) reads every version's virtual datasets of the Node-written history as the model", async (t) => {
  const h = await history()
  const c = new Checks()
  checkPyDump(c, h, h5pyDump(h.file), 'h5py')
  c.finish(t)
})

// ---------------------------------------------------------------------------------
// 2. Python writes, Node reads

interface PyModelDataset {
  dtype: string
  shape: number[]
  chunks: number[]
  fillvalue: Enc
  compression: string | null
  compression_opts: number | null
  shuffle: boolean
  fletcher32: boolean
  attrs: Record<string, AttrEnc>
  data: Rle
}
interface PyModel {
  current_version: string
  versions: Array<{
    name: string
    prev_version: string
    timestamp_us: string
    timestamp: string
    attrs: Record<string, AttrEnc>
    groups: Record<string, Record<string, AttrEnc>>
    datasets: Record<string, PyModelDataset>
  }>
}

interface ExpectedDataset {
  dtype: string
  shape: number[]
  chunks: number[]
  fill: Val
  compression: string | null
  level: number | null
  shuffle: boolean
  fletcher32: boolean
  attrs: Record<string, AttrV>
  data: Rle
}

/** Every property and element of a Node Dataset against the expectation. */
function checkNodeDataset(c: Checks, label: string, d: Dataset, x: ExpectedDataset): void {
  const D = (s: string) => `${label} ${s}`
  c.eq(D('dtype'), d.dtype, x.dtype)
  c.eq(D('shape'), d.shape, x.shape)
  c.eq(D('ndim/size'), [d.ndim, d.size], [x.shape.length, prod(x.shape)])
  c.eq(D('chunks'), d.chunks, x.chunks)
  c.eq(D('fillValue'), d.fillValue, is64(x.dtype) ? BigInt(x.fill) : x.fill)
  c.eq(D('compression'), d.compression, x.compression)
  c.eq(D('compressionLevel'), d.compressionLevel, x.level)
  c.eq(D('shuffle'), d.shuffle, x.shuffle)
  c.eq(D('fletcher32'), d.fletcher32, x.fletcher32)
  c.eq(D('attrs'), d.attrs.toObject(), x.attrs)
  c.run(D('read()'), () => {
    const got = fromNode(x.dtype, d.readSync())
    c.eq(D('data'), rle(got, encoder(x.dtype)), x.data)
  })
}

function nodeGroups(ver: Version): string[] {
  const out: string[] = []
  const walk = (prefix: string) => {
    for (const k of ver.keys(prefix || undefined)) {
      const p = prefix ? `${prefix}/${k}` : k
      const o = ver.get(p)
      if (!('dtype' in o)) {
        out.push(p)
        walk(p)
      }
    }
  }
  walk('')
  return out.sort()
}

let pyWritten: { file: string; model: PyModel } | undefined
function pyHistory(): { file: string; model: PyModel } {
  if (!pyWritten) {
    const file = tmpFile('rich-py')
    pyWritten = { file, model: vpy<PyModel>(SCRIPT, 'write', file) }
  }
  return pyWritten
}

test('Python versioned-hdf5 writes a rich history; Node reads exactly what Python says it wrote', async (t) => {
  const { file, model } = pyHistory()
  const c = new Checks()
  const vf = VersionedFile.open(file, { mode: 'r' })
  try {
    const names = model.versions.map((v) => v.name)
    t.true(names.length >= 20)
    // Oldest first = by timestamp; the script staged them in increasing time.
    c.eq('versions (oldest first)', vf.versions, names)
    c.eq('currentVersion', vf.currentVersion, model.current_version)
    c.eq(
      'history()',
      vf.history().map((i) => [i.name, i.prevVersion, i.timestampMicros]),
      model.versions.map((v) => [v.name, v.prev_version, BigInt(v.timestamp_us)]),
    )
    for (const v of model.versions) {
      c.run(`${v.name} version()`, () => {
        const ver = vf.version(v.name)
        const V = (s: string) => `${v.name} ${s}`
        const us = BigInt(v.timestamp_us)
        c.eq(V('prevVersion'), ver.prevVersion, v.prev_version)
        c.eq(V('timestampMicros'), ver.timestampMicros, us)
        c.eq(V('timestamp (Date)'), ver.timestamp.getTime(), Number(us / 1000n))
        c.eq(V('timestamp string'), tsString(us), v.timestamp)
        c.eq(V('versionAt(exact)'), vf.versionAt(us, { exact: true }).name, v.name)
        c.eq(V('attrs'), ver.attrs.toObject(), Object.fromEntries(Object.entries(v.attrs).map(([k, a]) => [k, pyAttrToJs(a)])))
        c.eq(V('datasets()'), ver.datasets(), Object.keys(v.datasets).sort())
        c.eq(V('groups'), nodeGroups(ver), Object.keys(v.groups).sort())
        for (const [g, a] of Object.entries(v.groups)) {
          c.run(V(`group ${g}`), () => c.eq(V(`group ${g} attrs`), ver.group(g).attrs.toObject(), Object.fromEntries(Object.entries(a).map(([k, x]) => [k, pyAttrToJs(x)]))))
        }
        for (const [p, d] of Object.entries(v.datasets)) {
          c.run(V(p), () =>
            checkNodeDataset(c, V(p), ver.dataset(p), {
              dtype: d.dtype,
              shape: d.shape,
              chunks: d.chunks,
              fill: isFloat(d.dtype) ? decFloat(d.fillvalue) : is64(d.dtype) ? BigInt(d.fillvalue as string) : (d.fillvalue as Val),
              compression: d.compression,
              level: d.compression === 'gzip' ? d.compression_opts : null,
              shuffle: d.shuffle,
              fletcher32: d.fletcher32,
              attrs: Object.fromEntries(Object.entries(d.attrs).map(([k, a]) => [k, pyAttrToJs(a)])),
              data: d.data,
            }),
          )
        }
      })
    }
    const chain: string[] = []
    const prev = new Map(model.versions.map((v) => [v.name, v.prev_version]))
    for (let n = model.current_version; n !== '__first_version__'; n = prev.get(n)!) chain.push(n)
    c.run('version(-n)', () => c.eq('version(0), version(-n) chain', chain.map((_, i) => vf.version(-i).name), chain))
  } finally {
    vf.close()
  }
  c.finish(t)
})

// The 'r'/'r+' expectations of part 1 (a VDS reports no chunks or filters in 'r'; the
// 'r+' objects report raw_data's) are Python's own conventions: shown here on its file.
test("Python versioned-hdf5 reports its own file the way part 1 expects it to report Node's", async (t) => {
  const { file, model } = pyHistory()
  const c = new Checks()
  for (const mode of ['r', 'r+'] as const) {
    const dump = vpy<PyDump>(SCRIPT, 'vh5', file, mode)
    const own = mode === 'r+'
    for (const v of model.versions) {
      for (const [p, d] of Object.entries(v.datasets)) {
        const x = dump.v[v.name]?.datasets[p]
        const D = (s: string) => `[${mode}] ${v.name} ${p} ${s}`
        if (!x) {
          c.eq(D('present'), false, true)
          continue
        }
        const level = d.compression === 'gzip' ? d.compression_opts : null
        c.eq(D('chunks'), x.chunks, own ? d.chunks : null)
        c.eq(D('compression'), x.compression, own ? d.compression : null)
        c.eq(D('compression_opts'), x.compression_opts, own ? level : null)
        c.eq(D('shuffle'), x.shuffle, own ? d.shuffle : false)
        c.eq(D('fletcher32'), x.fletcher32, own ? d.fletcher32 : false)
        c.eq(D("attrs['chunks']"), x.attr_chunks, d.chunks)
        c.eq(D("attrs['raw_data']"), x.attr_raw_data, `/_version_data/${p}/raw_data`)
        const r = dump.raw[p]
        c.eq(D('raw_data filters'), r && [r.compression, r.compression_opts, r.shuffle, r.fletcher32, r.chunks], [d.compression, level, d.shuffle, d.fletcher32, d.chunks])
      }
    }
  }
  c.finish(t)
})

test('the model helpers agree with NumPy on float16 rounding and with h5py on timestamps', (t) => {
  // The model's own arithmetic, pinned so a model bug cannot pass for a library one.
  t.deepEqual(
    [0.5, 1 / 3, 1e-8, 65519, 65520, 2049, 2051, 0.1, 6e-8, 1e5, -0].map(f16),
    [0.5, 0.333251953125, 0, 65504, Infinity, 2048, 2052, 0.0999755859375, 2 ** -24, Infinity, -0],
  )
  t.is(tsString(1_700_000_000_000_007n), '2023-11-14 22:13:20.000007+0000')
  t.deepEqual(rle(['a', 'a', 1, 1, 1, '1']), [['a', 2], [1, 3], ['1', 1]])
  t.deepEqual(selPositions([3, 4], [[0, 3, 2], { indices: [-1, 0] }]), [3, 0, 11, 8])
})

// ---------------------------------------------------------------------------------
// int64 -2^63 as an attribute value, isolated in child processes: reading it back
// aborted the whole Node process (a Rust panic, "attempt to negate with overflow" in
// attr_to_js), which would have hidden every other result of this file.

const INDEX = join(__dirname, '..', 'index.js')
const INT64_MIN = -(2n ** 63n)

/** Reads a version's, a group's and a dataset's attributes in a separate Node process. */
function readAttrsInChild(file: string): { status: number | null; signal: string | null; out: unknown; stderr: string } {
  const code = `
const { VersionedFile } = require(${JSON.stringify(INDEX)})
const vf = VersionedFile.open(process.argv[1], { mode: 'r' })
const v = vf.version('v1')
const show = (x) => (Array.isArray(x) ? x.map(show) : typeof x === 'bigint' ? { bigint: String(x) } : x)
const out = {}
for (const [where, attrs] of [['', v.attrs], ['grp.', v.group('grp').attrs], ['d.', v.dataset('d').attrs]]) {
  for (const k of attrs.keys()) out[where + k] = show(attrs.get(k))
}
out.toObject = Object.fromEntries(Object.entries(v.attrs.toObject()).map(([k, x]) => [k, show(x)]))
vf.close()
console.log(JSON.stringify(out))`
  const r = spawnSync(process.execPath, ['-e', code, file], { encoding: 'utf8', env: { ...process.env, RUST_BACKTRACE: '0' } })
  let out: unknown = null
  try {
    out = JSON.parse(r.stdout)
  } catch {
    out = r.stdout
  }
  return { status: r.status, signal: r.signal, out, stderr: r.stderr.split('\n').filter(Boolean).slice(0, 3).join(' | ') }
}

test('int64 -2^63 attributes: Node writes them as Python reads them, and reads them back (Node- and Python-written) as bigint', async (t) => {
  const c = new Checks()
  const big = { bigint: String(INT64_MIN) }
  // Node writes; Python reads.
  const file = tmpFile('int64min-node')
  const vf = VersionedFile.open(file, { mode: 'w' })
  await vf.stageVersion('v1', (g) => {
    g.attrs.set('min', INT64_MIN)
    g.attrs.set('arr', [INT64_MIN, 1n])
    g.createGroup('grp').attrs.set('min', INT64_MIN)
    g.createDataset('d', { data: [1], chunks: [4] }).attrs.set('min', INT64_MIN)
  }, { timestamp: BASE_US })
  vf.close()
  const seen = vpy<Record<string, AttrEnc>>(
    `import h5py, json, sys
sys.dont_write_bytecode = True
sys.path.insert(0, ${JSON.stringify(join(__dirname, 'py'))})
from interop_rich import enc_attr
v = h5py.File(sys.argv[1], 'r')['_version_data/versions/v1']
print(json.dumps({'min': enc_attr(v.attrs['min']), 'arr': enc_attr(v.attrs['arr']), 'grp.min': enc_attr(v['grp'].attrs['min']), 'd.min': enc_attr(v['d'].attrs['min'])}))`,
    file,
  )
  const lo = { dtype: 'int64', array: false, value: String(INT64_MIN) }
  c.eq('Python reads the Node-written attributes', seen, { min: lo, arr: { dtype: 'int64', array: true, value: [String(INT64_MIN), '1'] }, 'grp.min': lo, 'd.min': lo })
  // Python writes (its own reading printed by the script); Node reads, both files.
  const pyFile = tmpFile('int64min-py')
  c.eq('Python wrote', vpy(SCRIPT, 'int64min', pyFile), { min: lo, arr: { dtype: 'int64', array: true, value: [String(INT64_MIN), '1'] }, 'grp.min': lo, 'd.min': lo })
  for (const [who, f] of [['Node', file], ['Python', pyFile]] as const) {
    const r = readAttrsInChild(f)
    c.eq(`Node reads the ${who}-written -2^63 attributes: exit status (signal ${r.signal}; ${r.stderr})`, r.status, 0)
    c.eq(`Node reads the ${who}-written -2^63 attributes: values`, r.out, {
      arr: [big, 1],
      min: big,
      'grp.min': big,
      'd.min': big,
      toObject: { arr: [big, 1], min: big },
    })
  }
  c.finish(t)
})
