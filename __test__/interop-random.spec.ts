// Randomized interop: seeded random histories written by this library and by Python
// versioned-hdf5 2.4.0, cross-read by both, compared element by element with a model.
//
// A seed drives a small PRNG (mulberry32) that generates one history: a few versions
// (occasionally branching from an older version, or from no parent, sometimes not made
// current), each a list of operations on several datasets in nested groups: create
// (dense or sparse; 1-3 axes with edge chunks; ints, floats incl. float16, bool, vlen
// UTF-8 / ASCII strings, S<n>, utf8[n]; fill values; gzip / lzf / shuffle / fletcher32),
// writes (slices with steps and negative bounds, single elements, one index list per
// selection, broadcast values), resizes (grow / shrink / through 0), dataset and group
// deletes, re-creates of a path with the settings the file fixed for it, empty groups.
// While generating, an in-memory model applies every op and keeps each version's
// expected contents. The op list is plain JSON, so the same history runs in both
// libraries and one model checks both.
//
// Per run: histories with even index are written by Node, odd ones by Python (one
// python process, __test__/py/interop_random.py, writes all Python histories and then
// reads every file twice: through the virtual datasets in 'r' mode and through
// InMemoryDataset in 'r+' mode on a copy). Node reads every file too. Checked against the
// model: each writer's staged view right after the ops, and for each reader: versions,
// parents, timestamps (and lookup by exact timestamp), current version, groups, dataset
// paths, dtype, shape, chunks, fill value, filters, every element, and one random
// selection read per dataset and version.
//
// Env: VH5_RANDOM_RUNS (default 100) histories; VH5_SEED_BASE (default fixed; 'random'
// picks one and logs it) is the first seed; VH5_SEED=<n> runs only seed n, written by
// both libraries. A failure prints its seeds, the problems, how to reproduce, and the op
// list (also saved as JSON next to the test files).
import test, { type ExecutionContext } from 'ava'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

import { VersionedFile, type Dataset, type StagedGroup } from '../index.js'
import { ownListsFromTwoMappings, tmpFile, vpy } from './helpers.js'
import { flatOffsets, unravel } from './support/selection.js'

// Small datasets too take the path that encodes mapping lists here (design 033).
ownListsFromTwoMappings()

// ---- PRNG -----------------------------------------------------------------------------------

class Rng {
  private s: number
  constructor(seed: number) {
    this.s = seed >>> 0
  }
  /** mulberry32: uint32. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
  float(): number {
    return this.u32() / 4294967296
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1))
  }
  chance(p: number): boolean {
    return this.float() < p
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]
  }
  weighted<T extends string>(w: Partial<Record<T, number>>): T {
    const entries = Object.entries(w).filter(([, v]) => (v as number) > 0) as Array<[T, number]>
    let r = this.float() * entries.reduce((a, [, v]) => a + v, 0)
    for (const [k, v] of entries) {
      r -= v
      if (r < 0) return k
    }
    return entries[entries.length - 1][0]
  }
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32())
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(0, i)
      ;[xs[i], xs[j]] = [xs[j], xs[i]]
    }
    return xs
  }
}

// ---- dtypes and values ----------------------------------------------------------------------

type Val = number | bigint | boolean | string
/** A value in the JSON op list: ints as decimal strings, non-finite floats and -0 as strings. */
type Enc = number | string | boolean
type Kind = 'int' | 'int64' | 'float' | 'bool' | 'vlen' | 'fixed'

const INT_RANGE: Record<string, [bigint, bigint]> = {
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 4294967295n],
  uint64: [0n, 2n ** 64n - 1n],
}

function kindOf(dt: string): Kind {
  if (dt === 'int64' || dt === 'uint64') return 'int64'
  if (dt in INT_RANGE) return 'int'
  if (dt.startsWith('float')) return 'float'
  if (dt === 'bool') return 'bool'
  if (dt === 'string' || dt === 'ascii') return 'vlen'
  return 'fixed'
}

/** Byte length n of S<n> / utf8[n]. */
const fixedLen = (dt: string) => Number(dt.startsWith('S') ? dt.slice(1) : dt.slice(5, -1))

/** Correctly rounded (round to nearest, ties to even) IEEE binary16 value of a double. */
function f16round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x
  const a = Math.abs(x)
  if (a >= 65520) return x > 0 ? Infinity : -Infinity
  let e = Math.floor(Math.log2(a))
  if (2 ** e > a) e--
  else if (2 ** (e + 1) <= a) e++
  const ulp = 2 ** (Math.max(e, -14) - 10)
  const q = a / ulp
  const f = Math.floor(q)
  const d = q - f
  const r = d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f
  const v = r * ulp
  return x < 0 ? -v : v
}

/** What the dataset stores for a value written to it (the model's conversion). */
function conv(dt: string, v: Val): Val {
  if (dt === 'float32') return Math.fround(v as number)
  if (dt === 'float16') return f16round(v as number)
  if (dt.startsWith('S')) return (v as string).slice(0, fixedLen(dt)) // ASCII: bytes = chars
  return v
}

function enc(dt: string, v: Val): Enc {
  switch (kindOf(dt)) {
    case 'int':
    case 'int64':
      return String(v)
    case 'float': {
      const x = v as number
      if (Number.isNaN(x)) return 'NaN'
      if (x === Infinity) return 'Infinity'
      if (x === -Infinity) return '-Infinity'
      if (Object.is(x, -0)) return '-0'
      return x
    }
    default:
      return v as Enc
  }
}

function dec(dt: string, e: Enc): Val {
  switch (kindOf(dt)) {
    case 'int':
      return Number(e)
    case 'int64':
      return BigInt(e as string)
    case 'float':
      return typeof e === 'string' ? Number(e) : e
    default:
      return e
  }
}

/** Canonical text of an element for comparison (model, Node typed arrays, Python JSON). */
function canon(dt: string, v: unknown): string {
  switch (kindOf(dt)) {
    case 'int':
    case 'int64':
      try {
        return typeof v === 'boolean' ? `bool ${v}` : BigInt(v as number | bigint | string).toString()
      } catch {
        return `non-integer ${String(v)}`
      }
    case 'float': {
      const x = typeof v === 'string' ? Number(v) : (v as number)
      if (typeof x !== 'number') return `non-number ${String(v)}`
      return Object.is(x, -0) ? '-0' : String(x)
    }
    case 'bool':
      return v === true || v === 1 ? 'true' : v === false || v === 0 ? 'false' : `non-bool ${String(v)}`
    default:
      return typeof v === 'string' ? JSON.stringify(v) : `non-string ${String(v)}`
  }
}

const ASCII = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.:/'
const STR_POOL = ['', 'a', 'abc', 'héllo', '日本語', 'x🎉y', 'naïve café', 'Ω≈ç√', 'long string with some words in it', 'tab\tand\nnewline']
const ASCII_POOL = ['', 'a', 'abc', 'hello world', 'x', 'ab', 'abcdefghij', 'A-B_C', '12345678901234']

function genAscii(rng: Rng, maxLen: number): string {
  let s = ''
  const n = rng.int(0, maxLen)
  for (let i = 0; i < n; i++) s += rng.pick([...ASCII])
  return s
}

function utf8Len(s: string): number {
  return Buffer.byteLength(s, 'utf8')
}

/** Values near float16 rounding boundaries: exact ties, a hair above / below a tie, overflow and underflow edges. */
function f16Edge(rng: Rng): number {
  const sign = rng.chance(0.5) ? -1 : 1
  const which = rng.int(0, 9)
  if (which === 0) return sign * rng.pick([65504, 65519, 65519.99, 65519.999999, 65520, 65536, 2 ** -24, 2 ** -25, 2 ** -25 + 2 ** -45, 3 * 2 ** -26, 2 ** -26])
  const e = rng.int(-24, 15)
  const ulp = 2 ** (Math.max(e, -14) - 10)
  const m = e < -14 ? rng.int(0, 1022) : rng.int(1024, 2046)
  const tie = (m + 0.5) * ulp
  const tiny = tie * 2 ** -rng.int(14, 45)
  if (which <= 3) return sign * tie
  if (which <= 6) return sign * (tie + tiny)
  return sign * (tie - tiny)
}

const F_SPECIAL = [NaN, Infinity, -Infinity, -0, 0, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, -1e-310, 0.1, 1 / 3]

/** A random value of dtype dt, as the JS value passed to the writer (before conv). */
function genVal(rng: Rng, dt: string): Val {
  const k = kindOf(dt)
  if (k === 'int' || k === 'int64') {
    const [lo, hi] = INT_RANGE[dt]
    const r = rng.float()
    let b: bigint
    if (r < 0.55) b = BigInt(rng.int(-4, 6))
    else if (r < 0.8) b = lo + (rng.u64() % (hi - lo + 1n))
    else b = rng.pick([lo, hi, lo + 1n, hi - 1n, 0n])
    if (b < lo) b = lo
    if (b > hi) b = hi
    return k === 'int64' ? b : Number(b)
  }
  if (k === 'float') {
    const r = rng.float()
    if (r < 0.4) return rng.int(-8, 8) / 2
    if (r < 0.65) return (rng.float() * 2 - 1) * 10 ** rng.int(-6, 6)
    if (r < 0.75) return rng.pick(F_SPECIAL)
    if (dt === 'float16' && r < 0.95) return f16Edge(rng)
    return (rng.float() - 0.5) * 2 ** rng.int(-30, 30)
  }
  if (k === 'bool') return rng.chance(0.5)
  if (dt === 'string') return rng.chance(0.6) ? rng.pick(STR_POOL) : genAscii(rng, 10)
  if (dt === 'ascii') return rng.chance(0.6) ? rng.pick(ASCII_POOL) : genAscii(rng, 10)
  const n = fixedLen(dt)
  if (dt.startsWith('S')) return rng.chance(0.5) ? rng.pick(ASCII_POOL) : genAscii(rng, n + 3) // longer ones are cut
  // utf8[n]: only strings that fit n bytes (a cut inside a character has no common meaning)
  for (;;) {
    const s = rng.chance(0.6) ? rng.pick(STR_POOL) : genAscii(rng, n)
    if (utf8Len(s) <= n) return s
  }
}

function genFill(rng: Rng, dt: string): Val {
  const k = kindOf(dt)
  if (k === 'int' || k === 'int64') {
    const [lo, hi] = INT_RANGE[dt]
    const b = rng.pick([0n, 0n, 1n, 7n, lo, hi, lo < 0n ? -1n : 3n])
    return k === 'int64' ? b : Number(b)
  }
  // no NaN (Python compares fill values with !=) and no -0 (== 0 there)
  if (k === 'float') return rng.pick([0, 0, 1.5, -2, 0.25, 100])
  if (k === 'bool') return rng.chance(0.3)
  return ''
}

const DTYPES = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float16', 'float32', 'float64', 'bool', 'string', 'ascii', 'S', 'utf8']

function genDtype(rng: Rng): string {
  const d = rng.pick(DTYPES)
  if (d === 'S') return `S${rng.int(1, 8)}`
  if (d === 'utf8') return `utf8[${rng.int(4, 16)}]`
  return d
}

// ---- the op list ----------------------------------------------------------------------------

type SelEntry = { i: number } | { s: [number | null, number | null, number | null] } | { l: number[] }
type Sel = SelEntry[]
/** How Node receives the data: typed array, plain array, Float32Array (values pre-rounded), Float64Array. */
type JsForm = 'typed' | 'plain' | 'f32' | 'f64'
type NodeSel = 'tuple' | 'object'

interface Settings {
  dtype: string
  ndim: number
  /** null: the default ([4096], 1-D only) */
  chunks: number[] | null
  fill: Enc
  compression: 'gzip' | 'lzf' | null
  level: number | null
  shuffle: boolean
  fletcher32: boolean
  /** Node only, passed on the path's first creation */
  hash: 'sha256' | null
}

type Op =
  | { op: 'create'; path: string; shape: number[]; data: Enc[] | null; js: JsForm; first: boolean }
  | { op: 'write'; path: string; sel: Sel; shape: number[]; values: Enc[]; js: JsForm; nsel: NodeSel }
  | { op: 'write'; path: string; sel: Sel; shape: number[]; value: Enc; nsel: NodeSel }
  | { op: 'resize'; path: string; shape: number[]; axis: number | null }
  | { op: 'delete'; path: string }
  | { op: 'group'; path: string }

interface VersionSpec {
  name: string
  /** null: the current version (default); '': no parent */
  prev: string | null
  makeCurrent: boolean
  /** microseconds since the epoch, decimal */
  ts: string
  tsForm: 'iso' | 'bigint'
  ops: Op[]
}

interface History {
  seed: number
  settings: Record<string, Settings>
  versions: VersionSpec[]
}

// ---- the model ------------------------------------------------------------------------------

interface DsState {
  shape: number[]
  data: Val[]
}
interface State {
  datasets: Map<string, DsState>
  groups: Set<string>
}
interface Expected {
  history: History
  /** version name -> contents after its ops */
  states: Map<string, State>
  /** version name -> resolved parent ('__first_version__' for none) */
  prevs: Map<string, string>
  current: string
  /** commit order */
  order: string[]
}

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1)
const FIRST = '__first_version__'

function cloneState(s: State | undefined): State {
  if (!s) return { datasets: new Map(), groups: new Set() }
  return {
    datasets: new Map([...s.datasets].map(([k, v]) => [k, { shape: [...v.shape], data: [...v.data] }])),
    groups: new Set(s.groups),
  }
}

function parents(path: string): string[] {
  const parts = path.split('/')
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'))
}

/** Per-axis coordinates (normalized) of a selection, and the shape of what it selects. */
function selCoords(sel: Sel, shape: number[]): { coords: number[][]; rshape: number[] } {
  const coords: number[][] = []
  const rshape: number[] = []
  for (let a = 0; a < shape.length; a++) {
    const n = shape[a]
    const e = sel[a]
    if (!e) {
      coords.push(Array.from({ length: n }, (_, i) => i))
      rshape.push(n)
    } else if ('i' in e) {
      coords.push([e.i < 0 ? e.i + n : e.i])
    } else if ('l' in e) {
      coords.push(e.l.map((i) => (i < 0 ? i + n : i)))
      rshape.push(e.l.length)
    } else {
      // Python's slice.indices for a positive step
      const [s0, s1, st] = e.s
      const step = st ?? 1
      const norm = (x: number | null, dflt: number) => (x === null ? dflt : x < 0 ? Math.max(0, x + n) : Math.min(x, n))
      const start = norm(s0, 0)
      const stop = norm(s1, n)
      const c: number[] = []
      for (let i = start; i < stop; i += step) c.push(i)
      coords.push(c)
      rshape.push(c.length)
    }
  }
  return { coords, rshape }
}

/** Flat (C order) dataset offsets of every selected element, in selection order. */
function selOffsets(sel: Sel, shape: number[]): number[] {
  return flatOffsets(shape, selCoords(sel, shape).coords)
}

function resizeData(d: DsState, shape: number[], fill: Val): Val[] {
  const n = prod(shape)
  const out: Val[] = new Array(n)
  const idx = new Array(shape.length).fill(0)
  for (let k = 0; k < n; k++) {
    let inside = true
    let off = 0
    for (let a = 0; a < shape.length; a++) {
      if (idx[a] >= d.shape[a]) inside = false
      off = off * d.shape[a] + idx[a]
    }
    out[k] = inside ? d.data[off] : fill
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) break
      idx[a] = 0
    }
  }
  return out
}

function applyModel(state: State, h: History, op: Op): void {
  switch (op.op) {
    case 'create': {
      const st = h.settings[op.path]
      const fill = dec(st.dtype, st.fill)
      const data = op.data ? op.data.map((e) => conv(st.dtype, dec(st.dtype, e))) : new Array(prod(op.shape)).fill(fill)
      state.datasets.set(op.path, { shape: [...op.shape], data })
      for (const p of parents(op.path)) state.groups.add(p)
      return
    }
    case 'write': {
      const st = h.settings[op.path]
      const d = state.datasets.get(op.path)!
      const offs = selOffsets(op.sel, d.shape)
      if ('value' in op) {
        const v = conv(st.dtype, dec(st.dtype, op.value))
        for (const o of offs) d.data[o] = v
      } else {
        offs.forEach((o, k) => (d.data[o] = conv(st.dtype, dec(st.dtype, op.values[k]))))
      }
      return
    }
    case 'resize': {
      const st = h.settings[op.path]
      const d = state.datasets.get(op.path)!
      d.data = resizeData(d, op.shape, dec(st.dtype, st.fill))
      d.shape = [...op.shape]
      return
    }
    case 'delete': {
      if (state.datasets.delete(op.path)) return
      state.groups.delete(op.path)
      for (const p of [...state.groups]) if (p.startsWith(op.path + '/')) state.groups.delete(p)
      for (const p of [...state.datasets.keys()]) if (p.startsWith(op.path + '/')) state.datasets.delete(p)
      return
    }
    case 'group': {
      for (const p of [...parents(op.path), op.path]) state.groups.add(p)
      return
    }
  }
}

// ---- the generator --------------------------------------------------------------------------

/** Dataset paths ('d…') and group paths ('g…', 'h…') never collide. */
const DS_PATHS = ['d0', 'd1', 'd2', 'g0/d3', 'g0/d4', 'g0/h0/d5', 'g1/d6', 'g1/h1/d7', 'g0/h0/d8']
const GROUP_PATHS = ['g0', 'g1', 'g2', 'g0/h0', 'g1/h1', 'g2/h2', 'g0/h3']
const MAX_ELEMS = 700

function genShape(rng: Rng, ndim: number): number[] {
  const max = ndim === 1 ? 40 : ndim === 2 ? 11 : 6
  return Array.from({ length: ndim }, () => (rng.chance(0.05) ? 0 : rng.int(1, max)))
}

function genSettings(rng: Rng, ndim: number): Settings {
  const dtype = genDtype(rng)
  const shapeHint = ndim === 1 ? 40 : ndim === 2 ? 11 : 6
  const chunks = ndim === 1 && rng.chance(0.08) ? null : Array.from({ length: ndim }, () => rng.int(1, Math.min(8, shapeHint)))
  const vlen = kindOf(dtype) === 'vlen'
  const c = rng.weighted({ none: 75, gzip: 13, lzf: 12 })
  return {
    dtype,
    ndim,
    chunks,
    fill: enc(dtype, genFill(rng, dtype)),
    compression: c === 'none' ? null : c,
    level: c === 'gzip' && rng.chance(0.7) ? rng.int(0, 9) : null,
    shuffle: rng.chance(0.12),
    // HDF5 refuses fletcher32 on variable-length types (both libraries: "not suitable for filters")
    fletcher32: !vlen && rng.chance(0.1),
    hash: rng.chance(0.3) ? 'sha256' : null,
  }
}

function jsFormFor(rng: Rng, dt: string): JsForm {
  if (dt === 'float16') return rng.pick(['f32', 'f64', 'plain'] as const)
  if (dt === 'float32') return rng.pick(['f32', 'plain'] as const)
  if (kindOf(dt) === 'vlen' || kindOf(dt) === 'fixed') return 'plain'
  return rng.pick(['typed', 'plain'] as const)
}

/** Values for a write/create, as passed to Node (Float32Array form: rounded to float32 here). */
function genValues(rng: Rng, dt: string, n: number, js: JsForm): Enc[] {
  const pool = rng.chance(0.4) ? Array.from({ length: rng.int(1, 3) }, () => genVal(rng, dt)) : null
  return Array.from({ length: n }, () => {
    let v = pool ? rng.pick(pool) : genVal(rng, dt)
    if (js === 'f32') v = Math.fround(v as number)
    return enc(dt, v)
  })
}

/**
 * A random selection for a dataset of `shape`. At most one index list, and then no
 * integer index (NumPy moves the list's axis first when an integer and a list are not
 * adjacent; h5py does not: a documented ambiguity we stay out of).
 */
function genSel(rng: Rng, shape: number[], allowEmpty: boolean): Sel {
  const sel: Sel = []
  let hasList = false
  for (const n of shape) {
    if (n === 0) {
      sel.push({ s: rng.pick([[null, null, null], [0, 0, null], [0, null, 2]] as Array<[number | null, number | null, number | null]>) })
      continue
    }
    const kind = rng.weighted({ all: 15, index: 25, slice: 45, list: hasList ? 0 : 15 })
    if (kind === 'all') sel.push({ s: [null, null, null] })
    else if (kind === 'index') {
      const i = rng.int(0, n - 1)
      sel.push({ i: rng.chance(0.3) ? i - n : i })
    } else if (kind === 'slice') {
      const start = rng.int(0, n - 1)
      let stop = rng.int(start + 1, n)
      if (allowEmpty && rng.chance(0.05)) stop = start
      const step = rng.chance(0.7) ? 1 : rng.int(2, 3)
      const a: number | null = start === 0 && rng.chance(0.5) ? null : rng.chance(0.25) ? start - n : start
      const b: number | null = stop === n && rng.chance(0.5) ? null : stop < n && rng.chance(0.25) ? stop - n : stop
      sel.push({ s: [a, b, step === 1 && rng.chance(0.5) ? null : step] })
    } else {
      hasList = true
      const k = rng.int(1, Math.min(n, 5))
      const idx = rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, k)
      sel.push({ l: idx.map((i) => (rng.chance(0.2) ? i - n : i)) })
    }
  }
  if (hasList) {
    for (let a = 0; a < sel.length; a++) {
      const e = sel[a]
      if ('i' in e) {
        const i = e.i < 0 ? e.i + shape[a] : e.i
        sel[a] = { s: [i, i + 1, null] }
      }
    }
  }
  // trailing whole axes may be left out
  while (sel.length && rng.chance(0.5)) {
    const e = sel[sel.length - 1]
    if ('s' in e && e.s[0] === null && e.s[1] === null && (e.s[2] === null || e.s[2] === 1)) sel.pop()
    else break
  }
  return sel
}

function genResize(rng: Rng, shape: number[]): { shape: number[]; axis: number | null } {
  for (;;) {
    const out = shape.map((n) => {
      const r = rng.float()
      if (r < 0.4) return n
      if (r < 0.75) return n + rng.int(1, 7)
      if (r < 0.95) return n === 0 ? rng.int(1, 5) : rng.int(n > 1 ? 1 : 0, n - 1)
      return 0
    })
    if (prod(out) > MAX_ELEMS) continue
    const changed = out.map((n, a) => n !== shape[a])
    const axis = changed.filter(Boolean).length === 1 && rng.chance(0.5) ? changed.indexOf(true) : null
    return { shape: out, axis: axis !== null && rng.chance(0.3) ? axis - shape.length : axis }
  }
}

function letters(rng: Rng, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + rng.int(0, 25))
  return s
}

function generate(seed: number): Expected {
  const rng = new Rng(seed)
  const h: History = { seed, settings: {}, versions: [] }
  const states = new Map<string, State>()
  const prevs = new Map<string, string>()
  const order: string[] = []
  let current = FIRST
  let ts = 1_600_000_000_000_000n + BigInt(seed % 100_000) * 1_000_000_000n
  const nVersions = rng.int(2, 5)

  for (let k = 0; k < nVersions; k++) {
    // parent
    let prev: string | null = null
    let parent = current
    if (k > 0) {
      const r = rng.float()
      if (r < 0.2) {
        prev = rng.pick(order)
        parent = prev
      } else if (r < 0.25) {
        prev = ''
        parent = FIRST
      } else if (r < 0.4) {
        prev = current
      }
    }
    const name = `${letters(rng, rng.int(1, 3))}${k}`
    const state = cloneState(parent === FIRST ? undefined : states.get(parent))
    const ops: Op[] = []
    const nOps = k === 0 ? rng.int(2, 6) : rng.int(1, 6)
    for (let i = 0; i < nOps; i++) {
      const ds = [...state.datasets.keys()]
      const writable = ds.filter((p) => prod(state.datasets.get(p)!.shape) > 0)
      const free = DS_PATHS.filter((p) => !state.datasets.has(p))
      const groups = [...state.groups]
      const newGroups = GROUP_PATHS.filter((p) => !state.groups.has(p))
      const kind =
        k === 0 && i < 2
          ? 'create'
          : rng.weighted({
              write: writable.length ? 40 : 0,
              resize: ds.length ? 15 : 0,
              create: free.length ? 16 : 0,
              replace: ds.length ? 3 : 0,
              delete: ds.length > 1 ? 8 : 0,
              delgroup: groups.length ? 4 : 0,
              group: newGroups.length ? 4 : 0,
            })
      let op: Op
      if (kind === 'create' || kind === 'replace') {
        const path = kind === 'create' ? rng.pick(free) : rng.pick(ds)
        const first = !(path in h.settings)
        if (first) h.settings[path] = genSettings(rng, Number(rng.weighted({ '1': 45, '2': 35, '3': 20 })))
        const st = h.settings[path]
        let shape = genShape(rng, st.ndim)
        while (prod(shape) > MAX_ELEMS) shape = genShape(rng, st.ndim)
        const js = jsFormFor(rng, st.dtype)
        const data = rng.chance(0.65) ? genValues(rng, st.dtype, prod(shape), js) : null
        op = { op: 'create', path, shape, data, js, first }
      } else if (kind === 'write') {
        const path = rng.pick(writable)
        const st = h.settings[path]
        const d = state.datasets.get(path)!
        const sel = genSel(rng, d.shape, true)
        const { rshape } = selCoords(sel, d.shape)
        const nsel: NodeSel = rng.chance(0.2) ? 'object' : 'tuple'
        if (rng.chance(0.3)) {
          const v = rng.chance(0.3) ? dec(st.dtype, st.fill) : genVal(rng, st.dtype)
          op = { op: 'write', path, sel, shape: rshape, value: enc(st.dtype, v), nsel }
        } else {
          const js = jsFormFor(rng, st.dtype)
          op = { op: 'write', path, sel, shape: rshape, values: genValues(rng, st.dtype, prod(rshape), js), js, nsel }
        }
      } else if (kind === 'resize') {
        const path = rng.pick(ds)
        op = { op: 'resize', path, ...genResize(rng, state.datasets.get(path)!.shape) }
      } else if (kind === 'delete') {
        op = { op: 'delete', path: rng.pick(ds) }
      } else if (kind === 'delgroup') {
        op = { op: 'delete', path: rng.pick(groups) }
      } else {
        op = { op: 'group', path: rng.pick(newGroups) }
      }
      ops.push(op)
      applyModel(state, h, op)
    }
    ts += BigInt(rng.int(1, 2_000_000_000))
    const makeCurrent = k === 0 || rng.chance(0.85)
    h.versions.push({ name, prev, makeCurrent, ts: ts.toString(), tsForm: rng.chance(0.5) ? 'iso' : 'bigint', ops })
    states.set(name, state)
    prevs.set(name, parent)
    order.push(name)
    if (makeCurrent) current = name
  }
  return { history: h, states, prevs, current, order }
}

/** The model of a given op list (used for hand-written histories; equals what generate() built). */
function replay(h: History): Expected {
  const states = new Map<string, State>()
  const prevs = new Map<string, string>()
  const order: string[] = []
  let current = FIRST
  for (const v of h.versions) {
    const parent = v.prev === null ? current : v.prev === '' ? FIRST : v.prev
    const state = cloneState(parent === FIRST ? undefined : states.get(parent))
    for (const op of v.ops) applyModel(state, h, op)
    states.set(v.name, state)
    prevs.set(v.name, parent)
    order.push(v.name)
    if (v.makeCurrent) current = v.name
  }
  return { history: h, states, prevs, current, order }
}

/** One selection read per (version, dataset), from a stream of its own. */
function genReads(e: Expected): Record<string, Record<string, Sel>> {
  const rng = new Rng(e.history.seed ^ 0x5bd1e995)
  const out: Record<string, Record<string, Sel>> = {}
  for (const v of e.order) {
    out[v] = {}
    for (const [p, d] of [...e.states.get(v)!.datasets].sort(([a], [b]) => (a < b ? -1 : 1))) out[v][p] = genSel(rng, d.shape, true)
  }
  return out
}

// ---- Node writer and reader ------------------------------------------------------------------

function nodeData(dt: string, vals: Val[], js: JsForm): unknown {
  switch (dt) {
    case 'int8': return js === 'typed' ? Int8Array.from(vals as number[]) : vals
    case 'int16': return js === 'typed' ? Int16Array.from(vals as number[]) : vals
    case 'int32': return js === 'typed' ? Int32Array.from(vals as number[]) : vals
    case 'uint8': return js === 'typed' ? Uint8Array.from(vals as number[]) : vals
    case 'uint16': return js === 'typed' ? Uint16Array.from(vals as number[]) : vals
    case 'uint32': return js === 'typed' ? Uint32Array.from(vals as number[]) : vals
    case 'int64': return js === 'typed' ? BigInt64Array.from(vals as bigint[]) : vals
    case 'uint64': return js === 'typed' ? BigUint64Array.from(vals as bigint[]) : vals
    case 'float64': return js === 'typed' ? Float64Array.from(vals as number[]) : vals
    case 'float32':
    case 'float16':
      return js === 'f32' ? Float32Array.from(vals as number[]) : js === 'f64' ? Float64Array.from(vals as number[]) : vals
    case 'bool': return js === 'typed' ? Uint8Array.from(vals as boolean[], (b) => (b ? 1 : 0)) : vals
    default: return vals
  }
}

function nodeSel(sel: Sel, form: NodeSel): unknown[] {
  return sel.map((e) => {
    if ('i' in e) return e.i
    if ('l' in e) return { indices: e.l }
    const [a, b, c] = e.s
    if (form === 'object') {
      const o: { start?: number; stop?: number; step?: number } = {}
      if (a !== null) o.start = a
      if (b !== null) o.stop = b
      if (c !== null) o.step = c
      return o
    }
    if (a === null && b === null && c === null) return null
    return c === null ? [a, b] : [a, b, c]
  })
}

type Tree = { groups: string[]; datasets: Record<string, DsDump> }
interface DsDump {
  dtype: string
  shape: number[]
  data: unknown[]
  chunks?: number[]
  fill?: unknown
  compression?: string | null
  level?: number | null
  shuffle?: boolean
  fletcher32?: boolean
  sel?: unknown[]
}

interface NodeTreeNode {
  keys(): string[]
  get(path: string): unknown
}

function nodeTree(root: NodeTreeNode, full: boolean, reads?: Record<string, Sel>): Tree {
  const tree: Tree = { groups: [], datasets: {} }
  const walk = (node: NodeTreeNode, prefix: string) => {
    for (const name of node.keys()) {
      const obj = node.get(name) as object
      const path = prefix + name
      if ('dtype' in obj) {
        const d = obj as Dataset
        const dump: DsDump = { dtype: d.dtype, shape: [...d.shape], data: Array.from(d.readSync() as ArrayLike<unknown>) }
        if (full) {
          Object.assign(dump, { chunks: [...d.chunks], fill: d.fillValue, compression: d.compression, level: d.compressionLevel, shuffle: d.shuffle, fletcher32: d.fletcher32 })
          const sel = reads?.[path]
          if (sel) dump.sel = Array.from(d.readSync(nodeSel(sel, 'tuple') as Parameters<Dataset['readSync']>[0]) as ArrayLike<unknown>)
        }
        tree.datasets[path] = dump
      } else {
        tree.groups.push(path)
        walk(obj as NodeTreeNode, path + '/')
      }
    }
  }
  walk(root, '')
  tree.groups.sort()
  return tree
}

function isoMicros(us: bigint): string {
  const iso = new Date(Number(us / 1000n)).toISOString()
  return `${iso.slice(0, -1)}${(us % 1000n).toString().padStart(3, '0')}Z`
}

function nodeApply(g: StagedGroup, h: History, op: Op): void {
  switch (op.op) {
    case 'create': {
      const st = h.settings[op.path]
      const opts: Record<string, unknown> = { shape: op.shape, dtype: st.dtype }
      if (st.chunks) opts.chunks = st.chunks
      if (kindOf(st.dtype) !== 'vlen' && kindOf(st.dtype) !== 'fixed') opts.fillValue = dec(st.dtype, st.fill)
      if (st.compression) opts.compression = st.compression
      if (st.level !== null) opts.compressionLevel = st.level
      if (st.shuffle) opts.shuffle = true
      if (st.fletcher32) opts.fletcher32 = true
      if (st.hash && op.first) opts.hash = st.hash
      if (op.data) opts.data = nodeData(st.dtype, op.data.map((e) => dec(st.dtype, e)), op.js)
      g.createDataset(op.path, opts as Parameters<StagedGroup['createDataset']>[1])
      return
    }
    case 'write': {
      const st = h.settings[op.path]
      const d = g.dataset(op.path)
      const sel = nodeSel(op.sel, op.nsel) as Parameters<Dataset['write']>[0]
      const data = 'value' in op ? dec(st.dtype, op.value) : nodeData(st.dtype, op.values.map((e) => dec(st.dtype, e)), op.js)
      d.write(sel, data as Parameters<Dataset['write']>[1])
      return
    }
    case 'resize': {
      const d = g.dataset(op.path)
      if (op.axis === null) d.resize(op.shape)
      else d.resize(op.shape[op.axis < 0 ? op.axis + op.shape.length : op.axis], { axis: op.axis })
      return
    }
    case 'delete':
      g.delete(op.path)
      return
    case 'group':
      g.createGroup(op.path)
      return
  }
}

const errText = (e: unknown) => {
  const err = e as Error & { code?: string }
  return `${err.code ?? err.name}: ${err.message}`
}

/** Writes the history with this library; returns the staged trees (per version) or throws with the failing op. */
async function writeNode(file: string, h: History): Promise<Record<string, Tree>> {
  const staged: Record<string, Tree> = {}
  const vf = VersionedFile.open(file, { mode: 'w' })
  try {
    for (const v of h.versions) {
      const opts: { prevVersion?: string; makeCurrent: boolean; timestamp: string | bigint } = {
        makeCurrent: v.makeCurrent,
        timestamp: v.tsForm === 'iso' ? isoMicros(BigInt(v.ts)) : BigInt(v.ts),
      }
      if (v.prev !== null) opts.prevVersion = v.prev
      let where = `version '${v.name}'`
      try {
        await vf.stageVersion(
          v.name,
          (g) => {
            v.ops.forEach((op, k) => {
              where = `version '${v.name}' op #${k} ${JSON.stringify(op).slice(0, 400)}`
              nodeApply(g, h, op)
            })
            where = `version '${v.name}': staged read after the ops`
            staged[v.name] = nodeTree(g as unknown as NodeTreeNode, false)
            where = `version '${v.name}': commit`
          },
          opts,
        )
      } catch (e) {
        throw new Error(`${where}: ${errText(e)}`)
      }
    }
  } finally {
    vf.close()
  }
  return staged
}

interface FileDump {
  current: string
  versions: Record<string, { prev: string; ts: string; by_ts: string; tree: Tree }>
  /** Node only: commit order as listed by vf.versions */
  order?: string[]
  /** Node only: problems with version(0) / version(-1) */
  extra?: string[]
}

function readNode(file: string, reads: Record<string, Record<string, Sel>>): FileDump {
  const vf = VersionedFile.open(file, { mode: 'r' })
  try {
    const out: FileDump = { current: vf.currentVersion, versions: {}, order: [...vf.versions], extra: [] }
    const hist = new Map(vf.history().map((i) => [i.name, i]))
    for (const name of vf.versions) {
      const v = vf.version(name)
      let byTs: string
      try {
        byTs = vf.versionAt(v.timestampMicros, { exact: true }).name
      } catch (e) {
        byTs = `error ${errText(e)}`
      }
      if (hist.get(name)?.prevVersion !== v.prevVersion) out.extra!.push(`history() gives prev ${hist.get(name)?.prevVersion} for ${name}, version() ${v.prevVersion}`)
      if (hist.get(name)?.timestampMicros !== v.timestampMicros) out.extra!.push(`history() gives timestamp ${hist.get(name)?.timestampMicros} for ${name}, version() ${v.timestampMicros}`)
      out.versions[name] = { prev: v.prevVersion, ts: v.timestampMicros.toString(), by_ts: byTs, tree: nodeTree(v as unknown as NodeTreeNode, true, reads[name]) }
    }
    if (vf.currentVersion !== FIRST) {
      if (vf.version(0).name !== vf.currentVersion) out.extra!.push(`version(0) is ${vf.version(0).name}, current ${vf.currentVersion}`)
      const prev = vf.version(vf.currentVersion).prevVersion
      if (prev !== FIRST && vf.version(-1).name !== prev) out.extra!.push(`version(-1) is ${vf.version(-1).name}, want ${prev}`)
    }
    return out
  } finally {
    vf.close()
  }
}

// ---- comparison -----------------------------------------------------------------------------

function diffValues(dt: string, got: unknown[], want: Val[], shape: number[]): string | null {
  if (got.length !== want.length) return `${got.length} elements, want ${want.length}`
  let bad = 0
  let first = -1
  for (let i = 0; i < got.length; i++) {
    if (canon(dt, got[i]) !== canon(dt, want[i])) {
      bad++
      if (first < 0) first = i
    }
  }
  if (!bad) return null
  return `${bad} of ${got.length} elements differ, first at ${JSON.stringify(unravel(first, shape))}: got ${canon(dt, got[first])}, want ${canon(dt, want[first])}`
}

function checkTree(where: string, h: History, want: State, got: Tree, reads: Record<string, Sel> | undefined, out: string[]): void {
  const wantGroups = [...want.groups].sort()
  if (JSON.stringify(got.groups) !== JSON.stringify(wantGroups)) out.push(`${where}: groups ${JSON.stringify(got.groups)}, want ${JSON.stringify(wantGroups)}`)
  const wantPaths = [...want.datasets.keys()].sort()
  const gotPaths = Object.keys(got.datasets).sort()
  if (JSON.stringify(gotPaths) !== JSON.stringify(wantPaths)) out.push(`${where}: datasets ${JSON.stringify(gotPaths)}, want ${JSON.stringify(wantPaths)}`)
  for (const p of wantPaths) {
    const g = got.datasets[p]
    if (!g) continue
    const st = h.settings[p]
    const w = want.datasets.get(p)!
    const at = `${where} ${p} (${st.dtype})`
    if (g.dtype !== st.dtype) out.push(`${at}: dtype ${g.dtype}, want ${st.dtype}`)
    if (JSON.stringify(g.shape) !== JSON.stringify(w.shape)) {
      out.push(`${at}: shape ${JSON.stringify(g.shape)}, want ${JSON.stringify(w.shape)}`)
      continue
    }
    const dd = diffValues(st.dtype, g.data, w.data, w.shape)
    if (dd) out.push(`${at}: data: ${dd}`)
    if (g.chunks !== undefined) {
      const wc = st.chunks ?? [4096]
      if (JSON.stringify(g.chunks) !== JSON.stringify(wc)) out.push(`${at}: chunks ${JSON.stringify(g.chunks)}, want ${JSON.stringify(wc)}`)
    }
    if ('fill' in g && canon(st.dtype, g.fill) !== canon(st.dtype, dec(st.dtype, st.fill))) out.push(`${at}: fill value ${canon(st.dtype, g.fill)}, want ${canon(st.dtype, dec(st.dtype, st.fill))}`)
    if ('compression' in g) {
      const wantLevel = st.compression === 'gzip' ? st.level ?? 4 : null
      const gotF = { compression: g.compression ?? null, level: g.level ?? null, shuffle: g.shuffle, fletcher32: g.fletcher32 }
      const wantF = { compression: st.compression, level: wantLevel, shuffle: st.shuffle, fletcher32: st.fletcher32 }
      if (JSON.stringify(gotF) !== JSON.stringify(wantF)) out.push(`${at}: filters ${JSON.stringify(gotF)}, want ${JSON.stringify(wantF)}`)
    }
    const sel = reads?.[p]
    if (sel) {
      if (!g.sel) out.push(`${at}: no selection read`)
      else {
        const { rshape } = selCoords(sel, w.shape)
        const sd = diffValues(st.dtype, g.sel, selOffsets(sel, w.shape).map((o) => w.data[o]), rshape)
        if (sd) out.push(`${at} read ${JSON.stringify(sel)}: ${sd}`)
      }
    }
  }
}

function checkDump(where: string, e: Expected, got: FileDump | { error: string }, reads: Record<string, Record<string, Sel>>, out: string[]): void {
  if ('error' in got) {
    out.push(`${where}: ${got.error}`)
    return
  }
  const names = Object.keys(got.versions).sort()
  const want = [...e.order].sort()
  if (JSON.stringify(names) !== JSON.stringify(want)) out.push(`${where}: versions ${JSON.stringify(names)}, want ${JSON.stringify(want)}`)
  if (got.order && JSON.stringify(got.order) !== JSON.stringify(e.order)) out.push(`${where}: versions in order ${JSON.stringify(got.order)}, want ${JSON.stringify(e.order)} (oldest first)`)
  for (const x of got.extra ?? []) out.push(`${where}: ${x}`)
  if (got.current !== e.current) out.push(`${where}: current version ${got.current}, want ${e.current}`)
  for (const v of e.history.versions) {
    const gv = got.versions[v.name]
    if (!gv) continue
    const at = `${where} version '${v.name}'`
    if (gv.prev !== e.prevs.get(v.name)) out.push(`${at}: prev_version ${gv.prev}, want ${e.prevs.get(v.name)}`)
    if (gv.ts !== v.ts) out.push(`${at}: timestamp ${gv.ts} µs, want ${v.ts}`)
    if (gv.by_ts !== v.name) out.push(`${at}: lookup by its exact timestamp gives ${gv.by_ts}`)
    checkTree(at, e.history, e.states.get(v.name)!, gv.tree, reads[v.name], out)
  }
}

// ---- the run --------------------------------------------------------------------------------

type Writer = 'node' | 'python'
interface Case {
  seed: number
  writer: Writer
  file: string
  expected: Expected
  reads: Record<string, Record<string, Sel>>
  problems: string[]
}

const PY_SCRIPT = join(__dirname, 'py', 'interop_random.py')

interface PyResult {
  write: Record<string, { error: string | null; staged: Record<string, Tree> }>
  read: Record<string, { r: FileDump | { error: string }; rplus: FileDump | { error: string } }>
}

async function runCases(specs: Array<{ seed: number; writer: Writer; expected?: Expected }>): Promise<Case[]> {
  const cases: Case[] = specs.map(({ seed, writer, expected: given }) => {
    const expected = given ?? generate(seed)
    return { seed, writer, file: tmpFile(`rnd-${seed}-${writer}`), expected, reads: genReads(expected), problems: [] }
  })
  // 1. Node writes its histories (and checks its staged view).
  const stagedNode = new Map<Case, Record<string, Tree>>()
  for (const c of cases.filter((c) => c.writer === 'node')) {
    try {
      stagedNode.set(c, await writeNode(c.file, c.expected.history))
    } catch (e) {
      c.problems.push(`node writer: ${(e as Error).message}`)
    }
  }
  // 2. One python process: writes the Python histories, then reads every file (r and r+).
  const job = {
    write: cases.filter((c) => c.writer === 'python').map((c) => ({ file: c.file, history: c.expected.history })),
    read: cases.map((c) => ({ file: c.file, reads: c.reads })),
  }
  const jobFile = tmpFile('rnd-job').replace(/\.h5$/, '.json')
  writeFileSync(jobFile, JSON.stringify(job))
  const py = vpy<PyResult>(PY_SCRIPT, jobFile)
  for (const c of cases) {
    const staged = c.writer === 'node' ? stagedNode.get(c) : py.write[c.file].staged
    if (c.writer === 'python' && py.write[c.file].error) c.problems.push(`python writer: ${py.write[c.file].error}`)
    if (c.problems.length) continue // a history that failed to write is reported as such, not read
    for (const v of c.expected.history.versions) {
      const t = staged?.[v.name]
      if (!t) c.problems.push(`${c.writer} staged version '${v.name}': missing`)
      else checkTree(`${c.writer}-staged version '${v.name}'`, c.expected.history, c.expected.states.get(v.name)!, t, undefined, c.problems)
    }
    // 3. Every file is read by both libraries.
    let nodeDump: FileDump | { error: string }
    try {
      nodeDump = readNode(c.file, c.reads)
    } catch (e) {
      nodeDump = { error: errText(e) }
    }
    checkDump('node-read', c.expected, nodeDump, c.reads, c.problems)
    checkDump('python-read(r, VDS)', c.expected, py.read[c.file].r, c.reads, c.problems)
    checkDump('python-read(r+, InMemoryDataset)', c.expected, py.read[c.file].rplus, c.reads, c.problems)
  }
  return cases
}

function seedList(seeds: number[]): string {
  const u = [...new Set(seeds)]
  return u.length > 3 && u.every((x, i) => i === 0 || x === u[i - 1] + 1) ? `${u[0]}…${u[u.length - 1]}` : u.join(', ')
}

function report(t: ExecutionContext, cases: Case[]): void {
  const failed = cases.filter((c) => c.problems.length)
  const ops = (c: Case) => c.expected.history.versions.reduce((a, v) => a + v.ops.length, 0)
  t.log(`${cases.length} histories (${cases.filter((c) => c.writer === 'node').length} written by Node, ${cases.filter((c) => c.writer === 'python').length} by Python), ${cases.reduce((a, c) => a + c.expected.history.versions.length, 0)} versions, ${cases.reduce((a, c) => a + ops(c), 0)} ops; seeds ${seedList(cases.map((c) => c.seed))}`)
  const n: Record<string, number> = {}
  const bump = (k: string) => (n[k] = (n[k] ?? 0) + 1)
  for (const c of cases) {
    const h = c.expected.history
    for (const st of Object.values(h.settings)) bump(`dtype ${st.dtype.replace(/^S\d+$/, 'S<n>').replace(/^utf8\[\d+\]$/, 'utf8[n]')}`)
    h.versions.forEach((v, k) => {
      if (v.prev === '') bump('version without parent')
      else if (k > 0 && v.prev !== null && v.prev !== h.versions[k - 1].name) bump('branch from an older version')
      if (!v.makeCurrent) bump('version not made current')
      for (const op of v.ops) {
        if (op.op === 'create') bump(op.first ? (op.data ? 'create dense' : 'create sparse') : 're-create of a known path')
        else if (op.op === 'write') bump('value' in op ? 'write broadcast' : op.sel.some((e) => 'l' in e) ? 'write index list' : 'write array')
        else if (op.op === 'delete') bump(c.expected.history.settings[op.path] ? 'delete dataset' : 'delete group')
        else bump(op.op)
      }
    })
  }
  t.log(Object.entries(n).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}: ${v}`).join(', '))
  if (!failed.length) {
    t.pass()
    return
  }
  const lines: string[] = [`${failed.length} of ${cases.length} histories disagree with the model:`]
  for (const c of failed) {
    const saved = join(dirname(c.file), `history-${c.seed}-${c.writer}.json`)
    writeFileSync(saved, JSON.stringify({ seed: c.seed, writer: c.writer, problems: c.problems, history: c.expected.history }, null, 1))
    lines.push(`${c.seed < 0 ? 'hand-written history' : `seed ${c.seed}`} (written by ${c.writer}, ${c.expected.history.versions.length} versions, ${ops(c)} ops): ${c.problems.length} problems`)
    for (const p of c.problems.slice(0, 8)) lines.push(`    ${p}`)
    if (c.problems.length > 8) lines.push(`    … and ${c.problems.length - 8} more`)
    const how = c.seed < 0 ? `npx ava __test__/interop-random.spec.ts --match 'regression: *'` : `VH5_SEED=${c.seed} npx ava __test__/interop-random.spec.ts`
    lines.push(`    reproduce: ${how}   (op list: ${saved})`)
  }
  const first = failed[0]
  lines.push(`op list of ${first.seed < 0 ? 'the hand-written history' : `seed ${first.seed}`}: ${JSON.stringify(first.expected.history)}`)
  t.fail(lines.join('\n'))
}

// Seeds that once found a disagreement (or a bug worked around in the harness); run every
// time, each written by both libraries.
//   20240705, 20240723: float16 data given as doubles (Float64Array, plain numbers) is rounded
//     twice by this library, double -> float32 -> float16, where NumPy (and the README:
//     "rounded to nearest even") round once: 65519.99 gives Infinity here, 65504 in NumPy;
//     a value a hair above a float16 tie (e.g. 1 + 2^-11 + 2^-30) is rounded down to even.
//   20240746, 20240778: sparse vlen-string datasets (shape, no data) written partially;
//     Python versioned-hdf5 2.4.0 gives them fill value int 0 unless fillvalue=b'' is passed
//     (staged reads return 0, the commit fails hashing it); py/interop_random.py passes b''.
const REGRESSION_SEEDS: number[] = [20240705, 20240723, 20240746, 20240778]

/** Hand-written minimal histories of the disagreements found. */
const REGRESSION_HISTORIES: Array<{ label: string; history: History }> = [
  {
    label: 'float16 written from doubles is rounded once, to nearest even',
    history: {
      seed: -1,
      settings: { h: { dtype: 'float16', ndim: 1, chunks: [4], fill: 0, compression: null, level: null, shuffle: false, fletcher32: false, hash: null } },
      versions: [
        {
          name: 'v0', prev: null, makeCurrent: true, ts: '1700000000000000', tsForm: 'bigint',
          ops: [
            // 1 + 2^-11 + 2^-30: just above the tie between 1 and 1 + 2^-10 -> 1 + 2^-10; 65519.999 < 65520 -> 65504
            { op: 'create', path: 'h', shape: [3], data: [1 + 2 ** -11 + 2 ** -30, 65519.999, -(2049 + 2 ** -20)], js: 'f64', first: true },
            { op: 'write', path: 'h', sel: [{ i: 2 }], shape: [], values: [1 + 2 ** -11 + 2 ** -30], js: 'plain', nsel: 'tuple' },
          ],
        },
      ],
    },
  },
]

const seedBase = (() => {
  const b = process.env.VH5_SEED_BASE
  if (b === 'random') return Math.floor(Math.random() * 1e9)
  return b ? Number(b) : 20240601
})()
const runs = Number(process.env.VH5_RANDOM_RUNS ?? 100)
const onlySeed = process.env.VH5_SEED

if (onlySeed !== undefined) {
  test(`seed ${onlySeed}, written by Node and by Python, cross-read and checked against the model`, async (t) => {
    const seed = Number(onlySeed)
    const cases = await runCases([{ seed, writer: 'node' }, { seed, writer: 'python' }])
    t.log(`op list: ${JSON.stringify(cases[0].expected.history)}`)
    report(t, cases)
  })
} else {
  test(`${runs} random histories (seeds ${seedBase}…${seedBase + runs - 1}), half written by Node, half by Python, cross-read and checked against the model`, async (t) => {
    const specs = Array.from({ length: runs }, (_, i) => ({ seed: seedBase + i, writer: (i % 2 ? 'python' : 'node') as Writer }))
    report(t, await runCases(specs))
  })
  test(`regression seeds ${REGRESSION_SEEDS.join(', ')}, written by both libraries`, async (t) => {
    report(t, await runCases(REGRESSION_SEEDS.flatMap((seed) => [{ seed, writer: 'node' as Writer }, { seed, writer: 'python' as Writer }])))
  })
  for (const { label, history } of REGRESSION_HISTORIES) {
    test(`regression: ${label} (written by both libraries)`, async (t) => {
      const expected = replay(history)
      report(t, await runCases([{ seed: history.seed, writer: 'node', expected }, { seed: history.seed, writer: 'python', expected }]))
    })
  }
}

test('the model and the comparison can fail: float16 rounding, slices, resize, a wrong value is reported', (t) => {
  t.is(f16round(1 + 2 ** -11 + 2 ** -30), 1 + 2 ** -10)
  t.is(f16round(1 + 2 ** -11), 1)
  t.is(f16round(65519.999), 65504)
  t.is(f16round(65520), Infinity)
  t.is(f16round(2 ** -25), 0)
  t.is(f16round(2 ** -25 + 2 ** -45), 2 ** -24)
  t.deepEqual(selCoords([{ s: [-3, null, null] }, { i: -1 }, { l: [2, -4] }], [5, 4, 6]), { coords: [[2, 3, 4], [3], [2, 2]], rshape: [3, 2] })
  t.deepEqual(selOffsets([{ s: [1, null, 2] }], [2, 3]), [3, 4, 5])
  t.deepEqual(resizeData({ shape: [2, 2], data: [1, 2, 3, 4] }, [3, 1], 9), [1, 3, 9])
  t.truthy(diffValues('float64', [0, -0], [0, 0], [2]))
  t.truthy(diffValues('float64', ['NaN'], [1], [1]))
  t.is(diffValues('float64', ['NaN', '-Infinity', 1.5], [NaN, -Infinity, 1.5], [3]), null)
  t.truthy(diffValues('uint64', ['18446744073709551615'], [18446744073709551614n], [1]))
  t.truthy(diffValues('bool', [1], [false], [1]))
  t.truthy(diffValues('string', ['a'], ['a '], [1]))
  // generation is deterministic, and the model built while generating is the op list's replay
  t.deepEqual(generate(7).history, generate(7).history)
  for (const seed of [1, 2, 3, 20240617, 90399]) {
    const g = generate(seed)
    t.deepEqual(replay(g.history), g, `seed ${seed}`)
  }
})
