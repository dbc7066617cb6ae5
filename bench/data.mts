// Seeded inputs of the workloads, written once per run to files that every
// implementation reads before its clock starts, so all three see the same data.
// Every file is a flat array of little-endian float64 (counts and indices included:
// all are exact below 2^53).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** mulberry32: a small seeded generator, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class F64Writer {
  private buf = new Float64Array(1 << 16)
  private n = 0
  push(x: number) {
    if (this.n === this.buf.length) {
      const b = new Float64Array(this.buf.length * 2)
      b.set(this.buf)
      this.buf = b
    }
    this.buf[this.n++] = x
  }
  save(path: string) {
    writeFileSync(path, new Uint8Array(this.buf.buffer, 0, this.n * 8))
  }
}

/**
 * P1: record 0 is `[init, 0, init values…]`; record v ≥ 1 is
 * `[nAppend, nChange, appended…, changed indices (sorted, unique)…, changed values…]`.
 * Each version appends 5–15 rows and changes up to `changes` cells, biased to the end.
 */
export function writeP1(dir: string, versions: number, init = 5000, changes = 1000, seed = 1, grow = true): string {
  const r = rng(seed)
  const w = new F64Writer()
  w.push(init)
  w.push(0)
  for (let i = 0; i < init; i++) w.push(r() * 100)
  let n = init
  for (let v = 1; v < versions; v++) {
    const add = grow ? 5 + Math.floor(r() * 11) : 0
    const len = n + add
    const idx = new Set<number>()
    for (let k = 0; k < changes; k++) idx.add(Math.min(len - 1, Math.floor(len * (1 - r() ** 3))))
    const sorted = [...idx].sort((a, b) => a - b)
    w.push(add)
    w.push(sorted.length)
    for (let i = 0; i < add; i++) w.push(r() * 100)
    for (const i of sorted) w.push(i)
    for (let i = 0; i < sorted.length; i++) w.push(r() * 100)
    n = len
  }
  const path = join(dir, `P1-${versions}${grow ? '' : '-fixed'}.f64`)
  w.save(path)
  return path
}

/**
 * P2: record v is `[addRows, addCols, new rows (addRows × newCols)…, new columns of the
 * old rows (oldRows × addCols)…]`; record 0 makes the 30×30 start.
 */
export function writeP2(dir: string, versions: number, seed = 2): string {
  const r = rng(seed)
  const w = new F64Writer()
  let rows = 0
  let cols = 0
  for (let v = 0; v < versions; v++) {
    const addRows = v === 0 ? 30 : 1 + Math.floor(r() * 4)
    const addCols = v === 0 ? 30 : r() < 0.1 ? 1 : 0
    w.push(addRows)
    w.push(addCols)
    for (let i = 0; i < addRows * (cols + addCols); i++) w.push(r())
    for (let i = 0; i < rows * addCols; i++) w.push(r())
    rows += addRows
    cols += addCols
  }
  const path = join(dir, `P2-${versions}.f64`)
  w.save(path)
  return path
}

/** P4: a random walk of `n` float64 (it compresses a little). */
export function writeP4(dir: string, n: number, seed = 4): string {
  const r = rng(seed)
  const a = new Float64Array(n)
  let x = 0
  for (let i = 0; i < n; i++) {
    x += r() - 0.5
    a[i] = x
  }
  const path = join(dir, `P4-${n}.f64`)
  writeFileSync(path, new Uint8Array(a.buffer))
  return path
}

/** P5: `[start, stop]` pairs of small slices (1–100 elements) within `[0, len)`. */
export function writeP5(dir: string, len: number, count = 1000, seed = 5): string {
  const r = rng(seed)
  const w = new F64Writer()
  for (let i = 0; i < count; i++) {
    const size = 1 + Math.floor(r() * 100)
    const start = Math.floor(r() * (len - size))
    w.push(start)
    w.push(start + size)
  }
  const path = join(dir, `P5-${len}.f64`)
  w.save(path)
  return path
}

/** Length of the P1 dataset after `versions` versions (replays the record headers). */
export function p1Length(data: Float64Array): number[] {
  const lens: number[] = []
  let off = 0
  let n = 0
  while (off < data.length) {
    const add = data[off]
    const nc = data[off + 1]
    n += add
    lens.push(n)
    off += 2 + add + 2 * nc
  }
  return lens
}

/**
 * P5-large: `count` slices of `len` elements as `[row, start, stop]` triples: for a
 * 1-D `shape` the row is 0 and `[start, stop)` lies within it; for 2-D it is one row
 * and `[start, stop)` a run of its columns.
 */
export function writeP5LSlices(dir: string, shape: number[], count = 1000, len = 100, seed = 55): string {
  const r = rng(seed)
  const w = new F64Writer()
  const last = shape[shape.length - 1]
  for (let i = 0; i < count; i++) {
    const row = shape.length === 1 ? 0 : Math.floor(r() * shape[0])
    const start = Math.floor(r() * (last - len))
    w.push(row)
    w.push(start)
    w.push(start + len)
  }
  const path = join(dir, `P5L-${shape.join('x')}.f64`)
  w.save(path)
  return path
}
