#!/usr/bin/env node
'use strict'
// vh5: the command line for versioned HDF5 files. A thin layer over the package's
// public API (require('..')): commander parses the arguments, cli-progress draws the
// progress bars (on stderr, only when it is a terminal). docs/design/030-cli.md says
// why it is built this way; README.md ("Command line (vh5)") shows it in use.

const fs = require('node:fs')
const readline = require('node:readline')
const { Command, CommanderError, Option } = require('commander')
const cliProgress = require('cli-progress')
const { VersionedFile } = require('..')
const pkg = require('../package.json')

// ---------------------------------------------------------------------------------
// Errors: `vh5: CODE: message` on stderr; status 1 for data and file errors, 2 for
// usage errors.

const EXIT_DATA = 1
const EXIT_USAGE = 2

class CliError extends Error {
  constructor(code, message, exitCode = EXIT_DATA) {
    super(message)
    this.code = code
    this.exitCode = exitCode
  }
}

const usage = (message) => new CliError('USAGE', message, EXIT_USAGE)

function reportError(err) {
  if (err instanceof CliError) {
    process.stderr.write(`vh5: ${err.code}: ${err.message}\n`)
    return err.exitCode
  }
  if (err && typeof err.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(err.code) && !err.syscall) {
    // An error of the library: its stable code and message.
    process.stderr.write(`vh5: ${err.code}: ${err.message}\n`)
    return EXIT_DATA
  }
  if (err?.syscall) {
    // A file-system error of our own (the -o file): errno code and Node's message.
    process.stderr.write(`vh5: IO_ERROR: ${err.message}\n`)
    return EXIT_DATA
  }
  process.stderr.write(`vh5: INTERNAL_ERROR: ${err?.stack ? err.stack : String(err)}\n`)
  return EXIT_DATA
}

// ---------------------------------------------------------------------------------
// Time: microseconds since the epoch (bigint) from the user's text, and back.

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i

/** `2024-05-01T09:30:00.123456Z`, `2024-05-01` (midnight UTC), an offset, or integer microseconds. */
function parseTime(text, what) {
  const s = String(text).trim()
  if (/^-?\d+$/.test(s)) return BigInt(s)
  const m = TIME_RE.exec(s)
  if (!m) {
    throw usage(`${what}: '${text}' is not a time: give ISO 8601 with Z or an offset (2024-05-01T09:30:00.000001Z), a date (2024-05-01, UTC), or microseconds since the epoch`)
  }
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m
  if (m[4] !== undefined && zone === undefined) {
    throw usage(`${what}: '${text}' has no time zone: add Z (UTC) or an offset such as +02:00`)
  }
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec))
  const date = new Date(ms)
  if (Number.isNaN(ms) || date.getUTCDate() !== Number(d) || date.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) {
    throw usage(`${what}: '${text}' is not a valid date and time`)
  }
  // Date.UTC maps years 0–99 to 1900–1999; set the year itself.
  date.setUTCFullYear(Number(y))
  let micros = BigInt(date.getTime()) * 1000n + BigInt(frac.padEnd(6, '0') || '0')
  if (zone && zone.toUpperCase() !== 'Z') {
    const zm = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)
    const offset = (BigInt(zm[2]) * 60n + BigInt(zm[3])) * 60000000n
    micros = zm[1] === '+' ? micros - offset : micros + offset
  }
  return micros
}

/** ISO 8601 in UTC with all six digits of the microseconds. */
function formatMicros(micros) {
  let secs = micros / 1000000n
  let rest = micros % 1000000n
  if (rest < 0n) {
    rest += 1000000n
    secs -= 1n
  }
  const iso = new Date(Number(secs) * 1000).toISOString() // …T09:30:00.000Z
  return `${iso.slice(0, -5)}.${String(rest).padStart(6, '0')}Z`
}

// ---------------------------------------------------------------------------------
// Output: JSON with bigints as numbers when exact (strings otherwise), typed arrays as
// arrays, dates as ISO text.

function jsonable(value) {
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : String(value)
  if (value instanceof Date) return value.toISOString()
  if (ArrayBuffer.isView(value)) return Array.from(value, jsonable)
  if (Array.isArray(value)) return value.map(jsonable)
  if (value && typeof value === 'object') {
    const out = {}
    for (const [k, v] of Object.entries(value)) out[k] = jsonable(v)
    return out
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return null
  return value
}

const printJson = (value) => process.stdout.write(`${JSON.stringify(jsonable(value), null, 2)}\n`)

/** A value in one line of text (attributes, fill values). */
function show(value) {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return String(value)
  if (Array.isArray(value) || ArrayBuffer.isView(value)) return `[${Array.from(value, show).join(', ')}]`
  return String(value)
}

const shapeText = (shape) => `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`

// ---------------------------------------------------------------------------------
// Progress: a cli-progress bar on stderr when stderr is a terminal, nothing otherwise.

function progressBar(label, total, unit) {
  if (!process.stderr.isTTY) return null
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {duration_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  )
  bar.start(total, 0)
  return bar
}

/**
 * Runs `call(onProgress)`, one library call that reports `{ done, total }` to its
 * `onProgress` (every report before its promise settles), under a bar on a terminal;
 * off a terminal `onProgress` is undefined, so the library reports nothing.
 */
async function withProgress(label, unit, call) {
  const bar = progressBar(label, 1, unit)
  if (!bar) return call(undefined)
  const onProgress = ({ done, total }) => {
    if (!(total > 0)) return
    if (total !== bar.getTotal()) bar.setTotal(total)
    bar.update(done)
  }
  try {
    return await call(onProgress)
  } finally {
    bar.stop()
  }
}

// ---------------------------------------------------------------------------------
// Files and versions.

function openFile(file, mode = 'r') {
  return VersionedFile.open(file, { mode })
}

/** Opens `file`, runs `fn(vf)`, and closes the file whatever happens. */
async function withFile(file, mode, fn) {
  const vf = openFile(file, mode)
  try {
    return await fn(vf)
  } finally {
    if (!vf.closed) vf.close()
  }
}

/** The version --version (a name, or 0 / -n) or --at (a time) name; default the current one. */
function pickVersion(vf, opts) {
  if (opts.at !== undefined) return vf.versionAt(parseTime(opts.at, '--at'))
  if (opts.version !== undefined) {
    const v = String(opts.version)
    if (!vf.versions.includes(v) && /^(0|-\d+)$/.test(v)) return vf.version(Number(v))
    return vf.version(v)
  }
  if (vf.versions.length === 0) throw new CliError('VERSION_NOT_FOUND', `${vf.path} has no committed version yet`)
  return vf.version(vf.currentVersion)
}

/** Refuses a command whose library method this build lacks (checked before any file is opened). */
function requireMethod(name, command) {
  if (typeof VersionedFile.prototype[name] !== 'function') {
    throw new CliError('UNSUPPORTED', `'vh5 ${command}' needs VersionedFile.${name}(), which this build of versioned-hdf5 (${pkg.version}) does not have`)
  }
}

/** Asks on the terminal; without one, --yes is required. */
async function confirm(question, yes) {
  if (yes) return true
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw usage('not on a terminal: pass --yes to confirm')
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = await new Promise((resolve) => rl.question(`${question} [y/N] `, resolve))
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}

// ---------------------------------------------------------------------------------
// log

/**
 * Lanes of a branch graph, newest first (as `git log --graph` draws it): one column per
 * open branch, `*` where the line's version is; a `/` line before a version where a
 * branch that starts from it joins. Returns, per version, its lane text and the
 * joining lines to print before it.
 */
function graphLines(entries) {
  const lanes = [] // the version each open lane waits for
  const out = []
  const row = (cells) => cells.join(' ').trimEnd()
  for (const e of entries) {
    let col = lanes.indexOf(e.name)
    if (col < 0) {
      col = lanes.indexOf(null)
      if (col < 0) col = lanes.push(null) - 1
    }
    const joins = lanes.some((l, i) => i !== col && l === e.name)
    let before = []
    if (joins) {
      // `|/`: the joining lane's `/` between its column and the one to its left.
      const cells = Array(2 * lanes.length - 1).fill(' ')
      lanes.forEach((l, i) => {
        if (i !== col && l === e.name) cells[2 * i - 1] = '/'
        else if (i === col || l !== null) cells[2 * i] = '|'
      })
      before = [cells.join('').trimEnd()]
    }
    // Lanes that waited for this version end here.
    for (let i = 0; i < lanes.length; i++) if (i !== col && lanes[i] === e.name) lanes[i] = null
    out.push({ before, line: row(lanes.map((l, i) => (i === col ? '*' : l === null ? ' ' : '|'))) })
    lanes[col] = e.prevVersion && e.prevVersion !== '__first_version__' ? e.prevVersion : null
    while (lanes.length && lanes[lanes.length - 1] === null) lanes.pop()
  }
  const width = Math.max(0, ...out.map((g) => g.line.length))
  return out.map((g) => ({ before: g.before, line: g.line.padEnd(width) }))
}

async function cmdLog(file, opts) {
  const limit = opts.limit === undefined ? Infinity : opts.limit
  const since = opts.since === undefined ? null : parseTime(opts.since, '--since')
  const until = opts.until === undefined ? null : parseTime(opts.until, '--until')
  await withFile(file, 'r', (vf) => {
    const current = vf.currentVersion
    let entries = vf.history().reverse()
    const graph = opts.graph ? graphLines(entries) : null
    let rows = entries.map((e, i) => ({ e, g: graph ? graph[i] : null }))
    rows = rows.filter(({ e }) => (since === null || e.timestampMicros >= since) && (until === null || e.timestampMicros <= until))
    rows = rows.slice(0, limit)
    entries = rows.map(({ e, g }) => ({
      name: e.name,
      prevVersion: e.prevVersion,
      timestamp: formatMicros(e.timestampMicros),
      timestampMicros: e.timestampMicros,
      current: e.name === current,
      ...(g === null ? {} : { graph: g.line.trimEnd() }),
    }))
    if (opts.json) return printJson(entries)
    const nameWidth = Math.max(4, ...entries.map((e) => e.name.length))
    entries.forEach((e, i) => {
      const g = rows[i].g
      if (g) for (const b of g.before) process.stdout.write(`${b}\n`)
      const parent = e.prevVersion === '__first_version__' ? '-' : e.prevVersion
      process.stdout.write(`${g ? `${g.line} ` : ''}${e.name.padEnd(nameWidth)}  ${e.timestamp}  ${String(e.timestampMicros).padStart(16)}  parent ${parent}${e.current ? '  (current)' : ''}\n`)
    })
  })
}

// ---------------------------------------------------------------------------------
// ls

const ITEM_SIZE = { bool: 1, int8: 1, uint8: 1, int16: 2, uint16: 2, float16: 2, int32: 4, uint32: 4, float32: 4, int64: 8, uint64: 8, float64: 8 }

/** Bytes per element, or null for variable-length strings and compounds. */
function itemSize(dtype) {
  if (ITEM_SIZE[dtype]) return ITEM_SIZE[dtype]
  const m = /^(?:S(\d+)|utf8\[(\d+)\])$/.exec(dtype)
  return m ? Number(m[1] ?? m[2]) : null
}

function filtersOf(ds) {
  const f = []
  if (ds.shuffle) f.push('shuffle')
  if (ds.compression) f.push(ds.compressionLevel === null ? ds.compression : `${ds.compression}(${ds.compressionLevel})`)
  if (ds.fletcher32) f.push('fletcher32')
  return f
}

/**
 * The tree of version `v`; each dataset with its path's storage from `storage` (the
 * chunks of its raw_data, shared by every version that holds the path): bytes on disk
 * where they can be known, `null` for variable-length strings (their chunks hold
 * references; the strings lie in the file's heap).
 */
function describeTree(v, storage) {
  const items = []
  const walk = (prefix) => {
    for (const name of v.keys(prefix || undefined)) {
      const path = prefix ? `${prefix}/${name}` : name
      const node = v.get(path)
      if ('dtype' in node) {
        const size = itemSize(node.dtype)
        items.push({
          path,
          type: 'dataset',
          shape: node.shape,
          dtype: node.dtype,
          chunks: node.chunks,
          filters: filtersOf(node),
          fillValue: node.fillValue,
          // What the version's elements take, uncompressed: the format shares chunks
          // between versions, so a version's own stored size is not defined.
          logicalBytes: size === null ? null : size * node.size,
          storedBytes: storedBytesOf(storage.get(path)),
          storage: storage.get(path) ?? null,
          attrs: node.attrs.toObject(),
        })
      } else {
        items.push({ path, type: 'group', attrs: node.attrs.toObject() })
        walk(path)
      }
    }
  }
  walk('')
  return items
}

/** Bytes a path's chunks take on disk, or null where that is not known (strings in the heap). */
function storedBytesOf(st) {
  if (!st) return 0
  return st.heapStrings ? null : st.storedBytes
}

async function cmdLs(file, opts) {
  await withFile(file, 'r', async (vf) => {
    const v = pickVersion(vf, opts)
    // Chunk indexes only: the live figures would read every version's chunk map.
    const storage = new Map((await vf.storageStats({ live: false })).datasets.map((d) => [d.path, d]))
    const items = describeTree(v, storage)
    const head = { version: v.name, prevVersion: v.prevVersion, timestamp: formatMicros(v.timestampMicros), attrs: v.attrs.toObject() }
    if (opts.json) return printJson({ ...head, items })
    const attrText = (a) => Object.entries(a).map(([k, val]) => `${k}=${show(val)}`).join(' ')
    process.stdout.write(`version ${v.name}  ${head.timestamp}${Object.keys(head.attrs).length ? `  ${attrText(head.attrs)}` : ''}\n`)
    for (const it of items) {
      const depth = it.path.split('/').length - 1
      const name = '  '.repeat(depth) + it.path.split('/').pop()
      if (it.type === 'group') {
        process.stdout.write(`${name}/${Object.keys(it.attrs).length ? `  ${attrText(it.attrs)}` : ''}\n`)
        continue
      }
      const parts = [
        it.dtype,
        shapeText(it.shape),
        `chunks ${shapeText(it.chunks)}`,
        `fill ${show(it.fillValue)}`,
        `filters ${it.filters.length ? it.filters.join(',') : 'none'}`,
      ]
      if (it.logicalBytes !== null) parts.push(`${it.logicalBytes} bytes`)
      if (it.storage) {
        const st = it.storage
        const chunks = `${st.storedChunks} chunk${st.storedChunks === 1 ? '' : 's'}`
        parts.push(it.storedBytes === null ? `stored ${chunks} (strings in the heap)` : `stored ${it.storedBytes} bytes in ${chunks}`)
      }
      if (Object.keys(it.attrs).length) parts.push(attrText(it.attrs))
      process.stdout.write(`${name}  ${parts.join('  ')}\n`)
    }
  })
}

// ---------------------------------------------------------------------------------
// cat: selections, formats, block-by-block streaming.

/** NumPy-like selection text (`0:10,5`, `::2`, `-1`, `:`) as the library's selection. */
function parseSelect(text) {
  const entries = String(text).split(',').map((s) => s.trim())
  const int = (s, axis) => {
    if (s === '') return null
    if (!/^[+-]?\d+$/.test(s)) throw usage(`--select: '${s}' (axis ${axis}) is not an integer; use NumPy-like text such as 0:10,5 or ::2`)
    return Number(s)
  }
  return entries.map((e, axis) => {
    if (e === '' && entries.length > 1) throw usage(`--select: axis ${axis} is empty; use ':' for a whole axis`)
    const parts = e.split(':')
    if (parts.length === 1) return int(parts[0], axis)
    if (parts.length > 3) throw usage(`--select: '${e}' has more than two ':'`)
    const [start, stop, step] = parts.map((p) => int(p, axis))
    if (step !== null && step !== undefined && step <= 0) throw usage(`--select: '${e}': the step must be positive`)
    return [start, stop, step ?? null]
  })
}

/** Per axis, { index } or { start, step, count } resolved against the shape (NumPy's rules for slices). */
function resolveSelection(sel, shape) {
  if (sel.length > shape.length) throw usage(`--select names ${sel.length} axes; the dataset has ${shape.length}`)
  return shape.map((n, axis) => {
    const e = axis < sel.length ? sel[axis] : null
    if (typeof e === 'number') return { index: e }
    const [a, b, c] = e === null ? [null, null, null] : e
    const step = c ?? 1
    const clamp = (x, dflt) => (x === null ? dflt : x < 0 ? Math.max(0, x + n) : Math.min(x, n))
    const start = clamp(a, 0)
    const stop = clamp(b, n)
    const count = stop > start ? Math.ceil((stop - start) / step) : 0
    return { start, step, count }
  })
}

/** The selection of output rows [r0, r1) along output axis `k`'s dataset axis. */
function blockSelection(axes, axisK, r0, r1) {
  return axes.map((a, i) => {
    if (a.index !== undefined) return a.index
    if (i === axisK) return [a.start + r0 * a.step, a.start + (r1 - 1) * a.step + 1, a.step]
    return a.count === 0 ? [0, 0] : [a.start, a.start + (a.count - 1) * a.step + 1, a.step]
  })
}

const BLOCK_BYTES = Number(process.env.VH5_BLOCK_BYTES) > 0 ? Number(process.env.VH5_BLOCK_BYTES) : 8 << 20

/** Fields of a compound dtype text `compound{a:int32,b:S4}`, or null. */
function compoundFields(dtype) {
  const m = /^compound\{(.*)\}$/.exec(dtype)
  if (!m) return null
  return m[1].split(',').map((f) => {
    const i = f.indexOf(':')
    return { name: f.slice(0, i), dtype: f.slice(i + 1) }
  })
}

const isStringDtype = (dtype) => dtype === 'string' || dtype === 'ascii' || /^(S\d+|utf8\[\d+\])$/.test(dtype)

/** The typed array `readInto` fills for a dtype (float16, strings and compounds have none). */
const READ_INTO = {
  bool: Uint8Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
}

/** Whether a resolved selection is a range of whole rows: step 1 on axis 0, all of every other axis. */
function wholeRows(axes, shape) {
  return axes.every((a, i) => a.index === undefined && a.step === 1 && (i === 0 || (a.start === 0 && a.count === shape[i])))
}

/**
 * Reads the selection in blocks of whole output rows along its first sliced axis,
 * each at most about `blockBytes`; calls `onBlock(data, rows)` in order and awaits it.
 * A range of whole rows streams through the library's `readBlocks`; other selections
 * are read block by block, numeric data into one array reused for every block
 * (`readInto`). Either way memory stays at about two blocks: `onBlock` must be done
 * with `data` when it settles.
 */
async function forEachBlock(ds, sel, onBlock, bar, blockBytes = BLOCK_BYTES) {
  const axes = resolveSelection(sel, ds.shape)
  const outShape = axes.filter((a) => a.index === undefined).map((a) => a.count)
  const k = axes.findIndex((a) => a.index === undefined)
  if (k < 0) {
    // One element: the library returns it as a one-element array.
    await onBlock(await ds.read(axes.map((a) => a.index)), 1)
    return
  }
  const rows = outShape[0]
  const perRow = outShape.slice(1).reduce((x, y) => x * y, 1)
  const item = itemSize(ds.dtype) ?? 64
  const step = Math.max(1, Math.floor(blockBytes / Math.max(1, perRow * item)))
  if (rows === 0 || perRow === 0) {
    await onBlock(null, rows)
    return
  }
  if (typeof ds.readBlocks === 'function' && wholeRows(axes, ds.shape)) {
    // Whole rows along axis 0 (the whole dataset or a range of rows): the library's
    // bounded block reader, `step` rows at a time (one block read ahead).
    let done = 0
    const a0 = axes[0]
    for await (const block of ds.readBlocks({ rows: step, start: a0.start, stop: a0.start + a0.count })) {
      const n = Math.min(step, rows - done)
      await onBlock(block, n)
      done += n
      if (bar) bar.update(done)
    }
    return
  }
  // Other selections (an index or a step on axis 0, part of another axis): the
  // selection's blocks one by one, numeric ones into one array reused for each.
  const Kind = READ_INTO[ds.dtype]
  const target = Kind ? new Kind(Math.min(rows, step) * perRow) : null
  for (let r0 = 0; r0 < rows; r0 += step) {
    const r1 = Math.min(rows, r0 + step)
    const block = blockSelection(axes, k, r0, r1)
    const data = target ? target.subarray(0, await ds.readInto(target, block)) : await ds.read(block)
    await onBlock(data, r1 - r0)
    if (bar) bar.update(r1)
  }
}

// Text output holds a block as text too (several times its binary size): smaller blocks.
const TEXT_BLOCK_BYTES = Math.max(1, BLOCK_BYTES >> 3)

/** The shape of the selection's result (axes given an index are dropped). */
function outputShape(ds, sel) {
  return resolveSelection(sel, ds.shape)
    .filter((a) => a.index === undefined)
    .map((a) => a.count)
}

// Text values -------------------------------------------------------------------

function textValue(v, dtype) {
  if (dtype === 'bool') return v ? 'true' : 'false'
  if (typeof v === 'number' && Object.is(v, -0)) return '-0'
  return String(v)
}

function jsonValue(v, dtype) {
  if (dtype === 'bool') return v ? 'true' : 'false'
  if (typeof v === 'bigint') return String(v) // exact: JSON numbers have no size limit
  if (typeof v === 'number') return Number.isFinite(v) ? (Object.is(v, -0) ? '-0.0' : String(v)) : 'null'
  return JSON.stringify(v)
}

function csvCell(s) {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** Element `i` of a block as JSON text (compound: an object of its fields). */
function jsonElement(data, i, dtype, fields) {
  if (!fields) return jsonValue(data[i], dtype)
  return `{${fields.map((f) => `${JSON.stringify(f.name)}: ${jsonValue(data[f.name][i], f.dtype)}`).join(', ')}}`
}

// npy ---------------------------------------------------------------------------

const NPY_DESCR = {
  bool: '|b1',
  int8: '|i1',
  uint8: '|u1',
  int16: '<i2',
  uint16: '<u2',
  int32: '<i4',
  uint32: '<u4',
  int64: '<i8',
  uint64: '<u8',
  float16: '<f2',
  float32: '<f4',
  float64: '<f8',
}

/** float32 → IEEE binary16 bits; exact for the values a float16 dataset reads as. */
function halfBits(f) {
  const b = new DataView(new ArrayBuffer(4))
  b.setFloat32(0, f, true)
  const x = b.getUint32(0, true)
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  const mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    const m = (mant | 0x800000) >>> (1 - e)
    return sign | ((m + 0x1000) >>> 13) // round half up; float16 values are exact here
  }
  return sign | (e << 10) | ((mant + 0x1000) >>> 13)
}

/** The npy dtype of a dataset dtype: { descr, width, encode(block, i, buf, off) }. */
function npyType(dtype, stringWidth) {
  const fixed = NPY_DESCR[dtype]
  if (fixed) return { descr: `'${fixed}'`, width: ITEM_SIZE[dtype] }
  const s = /^S(\d+)$/.exec(dtype)
  if (s) return { descr: `'|S${s[1]}'`, width: Number(s[1]), bytes: true }
  if (isStringDtype(dtype)) return { descr: `'<U${Math.max(1, stringWidth)}'`, width: 4 * Math.max(1, stringWidth), utf32: true }
  throw new CliError('UNSUPPORTED_DTYPE', `--format npy cannot hold dtype ${dtype}`)
}

/** Encodes element `i` of `data` (dtype `dtype`, npy type `t`) into `buf` at `off`. */
function encodeElement(data, i, dtype, t, buf, off) {
  if (t.utf32) {
    let j = off
    for (const ch of data[i]) {
      if (j >= off + t.width) break
      buf.writeUInt32LE(ch.codePointAt(0), j)
      j += 4
    }
    return
  }
  if (t.bytes) {
    buf.write(data[i], off, t.width, 'utf8')
    return
  }
  if (dtype === 'float16') buf.writeUInt16LE(halfBits(data[i]), off)
  else buf[BUFFER_WRITE[dtype]](data[i], off)
}

/** The Buffer method that writes one element of a numeric dtype, little-endian. */
const BUFFER_WRITE = {
  bool: 'writeUInt8',
  uint8: 'writeUInt8',
  int8: 'writeInt8',
  int16: 'writeInt16LE',
  uint16: 'writeUInt16LE',
  int32: 'writeInt32LE',
  uint32: 'writeUInt32LE',
  int64: 'writeBigInt64LE',
  uint64: 'writeBigUInt64LE',
  float32: 'writeFloatLE',
  float64: 'writeDoubleLE',
}

function npyHeader(descr, shape) {
  const dict = `{'descr': ${descr}, 'fortran_order': False, 'shape': ${shapeText(shape)}, }`
  // Version 1.0 holds a header of up to 65535 bytes; 2.0 (a 4-byte length) the rest.
  const v1 = dict.length + 11 <= 65535
  const pre = v1 ? 10 : 12
  const total = Math.ceil((pre + dict.length + 1) / 64) * 64
  const header = dict.padEnd(total - pre - 1, ' ') + '\n'
  const out = Buffer.alloc(pre)
  out.write('\x93NUMPY', 0, 'latin1')
  out[6] = v1 ? 1 : 2
  out[7] = 0
  if (v1) out.writeUInt16LE(header.length, 8)
  else out.writeUInt32LE(header.length, 8)
  return Buffer.concat([out, Buffer.from(header, 'latin1')])
}

/** The widest string (in code points) of the selection: a first pass over the blocks. */
async function maxStringWidth(ds, sel, fields) {
  let width = 0
  const widen = (arr) => {
    for (const s of arr) {
      let n = 0
      for (const _ of s) n++
      if (n > width) width = n
    }
  }
  await forEachBlock(ds, sel, (data) => {
    if (data === null) return
    if (!fields) widen(data)
    else for (const f of fields) if (isStringDtype(f.dtype)) widen(data[f.name])
  })
  return width
}

// Writers -----------------------------------------------------------------------

/** stdout or the -o file, written with backpressure; `abort` removes a partial -o file. */
function openOutput(path) {
  const stream = path ? fs.createWriteStream(path) : process.stdout
  let failed = null
  stream.on('error', (e) => {
    failed = e
  })
  return {
    /** Settles when the stream is done with `chunk` (it may be a reused block). */
    async write(chunk) {
      if (failed) throw failed
      await new Promise((resolve, reject) => stream.write(chunk, (e) => (e ? reject(e) : resolve())))
      if (failed) throw failed
    },
    async end() {
      if (path) await new Promise((resolve, reject) => stream.end((e) => (e ? reject(e) : resolve())))
      if (failed) throw failed
    },
    /** Removes a partial -o file, once the stream has closed it (its open is
     * asynchronous: removing it before would let the open create it again). */
    async abort() {
      if (!path) return
      if (!stream.closed) await new Promise((resolve) => stream.destroy().once('close', resolve))
      fs.rmSync(path, { force: true })
    },
  }
}

async function cmdCat(file, path, opts) {
  const sel = opts.select === undefined ? [] : parseSelect(opts.select)
  await withFile(file, 'r', async (vf) => {
    const v = pickVersion(vf, opts)
    const ds = v.dataset(path)
    const shape = outputShape(ds, sel)
    const dtype = ds.dtype
    const fields = compoundFields(dtype)
    const format = opts.format ?? 'json'
    if (format === 'csv' && shape.length > 2) {
      throw usage(`--format csv holds 1-D and 2-D data; this selection is ${shape.length}-D ${shapeText(shape)}: use --format json or npy, or --select fewer axes`)
    }
    if (format === 'csv' && fields && shape.length > 1) throw usage('--format csv holds compound data only as 1-D (one row per record)')
    if (format === 'npy' && fields) {
      for (const f of fields) if (!NPY_DESCR[f.dtype] && !isStringDtype(f.dtype)) throw new CliError('UNSUPPORTED_DTYPE', `--format npy cannot hold field ${f.name} of dtype ${f.dtype}`)
    }
    const out = openOutput(opts.output)
    // The bar is drawn for the pass that writes (npy of strings reads once before it).
    let bar = null
    const startBar = () => {
      if (manyBlocks(ds, shape)) bar = progressBar('cat', shape.length ? shape[0] : 1, 'rows')
      return bar
    }
    const writer = format === 'npy' ? writeNpy : format === 'csv' ? writeCsv : writeJsonData
    try {
      await writer(ds, sel, shape, dtype, fields, out, startBar)
      await out.end()
    } catch (e) {
      await out.abort()
      throw e
    } finally {
      if (bar) bar.stop()
    }
  })
}

/** Whether the read takes more than one block (then a bar is worth showing). */
function manyBlocks(ds, shape) {
  const n = shape.reduce((x, y) => x * y, 1)
  return n * (itemSize(ds.dtype) ?? 64) > BLOCK_BYTES
}

async function writeCsv(ds, sel, shape, dtype, fields, out, startBar) {
  if (fields) await out.write(`${fields.map((f) => csvCell(f.name)).join(',')}\n`)
  const cols = shape.length === 2 ? shape[1] : 1
  await forEachBlock(
    ds,
    sel,
    async (data, rows) => {
      if (data === null) return
      const lines = []
      if (fields) {
        for (let i = 0; i < rows; i++) lines.push(fields.map((f) => csvCell(textValue(data[f.name][i], f.dtype))).join(','))
      } else {
        const arr = data
        for (let r = 0; r < rows; r++) {
          const cells = []
          for (let c = 0; c < cols; c++) cells.push(csvCell(textValue(arr[r * cols + c], dtype)))
          lines.push(cells.join(','))
        }
      }
      await out.write(`${lines.join('\n')}\n`)
    },
    startBar(),
    TEXT_BLOCK_BYTES,
  )
}

async function writeJsonData(ds, sel, shape, dtype, fields, out, startBar) {
  if (shape.length === 0) {
    // Every axis given an index: one element, read as a one-element array.
    await forEachBlock(ds, sel, (data) => out.write(`${jsonElement(data, 0, dtype, fields)}\n`))
    return
  }
  const inner = shape.slice(1)
  const perRow = inner.reduce((x, y) => x * y, 1)
  // Nested arrays of the row's elements, C order.
  const nest = (data, base, dims) => {
    if (dims.length === 0) return jsonElement(data, base, dtype, fields)
    const stride = dims.slice(1).reduce((x, y) => x * y, 1)
    const parts = []
    for (let i = 0; i < dims[0]; i++) parts.push(nest(data, base + i * stride, dims.slice(1)))
    return `[${parts.join(', ')}]`
  }
  let first = true
  await out.write('[')
  await forEachBlock(
    ds,
    sel,
    async (data, rows) => {
      const parts = []
      for (let r = 0; r < rows; r++) parts.push(data === null ? nest([], 0, inner) : nest(data, r * perRow, inner))
      if (parts.length) {
        await out.write((first ? '' : ',\n ') + parts.join(',\n '))
        first = false
      }
    },
    startBar(),
    TEXT_BLOCK_BYTES,
  )
  await out.write(']\n')
}

async function writeNpy(ds, sel, shape, dtype, fields, out, startBar) {
  // Variable-length strings become NumPy's fixed-width unicode: one pass for the width.
  const needsWidth = (d) => d === 'string' || d === 'ascii' || /^utf8\[\d+\]$/.test(d)
  const width = (fields ? fields.some((f) => needsWidth(f.dtype)) : needsWidth(dtype)) ? await maxStringWidth(ds, sel, fields) : 0
  let types
  let descr
  if (fields) {
    types = fields.map((f) => npyType(f.dtype, width))
    descr = `[${fields.map((f, i) => `(${JSON.stringify(f.name).replace(/^"|"$/g, "'")}, ${types[i].descr})`).join(', ')}]`
  } else {
    types = [npyType(dtype, width)]
    descr = types[0].descr
  }
  const itemBytes = types.reduce((a, t) => a + t.width, 0)
  await out.write(npyHeader(descr, shape))
  await forEachBlock(
    ds,
    sel,
    async (data, rows) => {
      if (data === null) return
      const perRow = shape.slice(1).reduce((x, y) => x * y, 1)
      const n = shape.length === 0 ? 1 : rows * perRow
      const block = data
      if (!fields && !types[0].utf32 && !types[0].bytes && dtype !== 'float16' && ArrayBuffer.isView(block)) {
        // Typed arrays are already the little-endian bytes NumPy reads.
        await out.write(Buffer.from(block.buffer, block.byteOffset, block.byteLength))
        return
      }
      const buf = Buffer.alloc(n * itemBytes)
      for (let i = 0; i < n; i++) {
        let off = i * itemBytes
        if (fields) {
          fields.forEach((f, j) => {
            encodeElement(block[f.name], i, f.dtype, types[j], buf, off)
            off += types[j].width
          })
        } else encodeElement(block, i, dtype, types[0], buf, off)
      }
      await out.write(buf)
    },
    startBar(),
  )
}

// ---------------------------------------------------------------------------------
// verify, info

async function cmdVerify(file, opts) {
  const report = await withFile(file, 'r', (vf) => withProgress('verify', 'steps', (onProgress) => vf.verify({ onProgress })))
  if (opts.json) printJson(report)
  else {
    for (const p of report.problems) process.stdout.write(`problem: ${p.location}: ${p.message}\n`)
    for (const w of report.warnings) process.stdout.write(`warning: ${w.location}: ${w.message}\n`)
    const checked = `${report.versions} versions, ${report.datasets} version datasets, ${report.chunks} chunks checked${report.uncheckedChunks ? ` (${report.uncheckedChunks} not hash-checked)` : ''}`
    process.stdout.write(report.ok ? `ok: ${checked}\n` : `${report.problems.length} problem(s): ${checked}\n`)
  }
  if (!report.ok) process.exitCode = EXIT_DATA
}

/** `n` bytes as text: exact, with a binary-prefixed size for larger values. */
function bytesText(n) {
  if (n < 1024) return `${n} bytes`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let u = -1
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return `${n} bytes (${v.toFixed(1)} ${units[u]})`
}

const percent = (part, whole) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '0.0%')

async function cmdInfo(file, opts) {
  await withFile(file, 'r', async (vf) => {
    const history = vf.history()
    const paths = new Set()
    for (const h of history) for (const p of vf.version(h.name).datasets()) paths.add(p)
    const current = vf.currentVersion
    const s = await vf.storageStats()
    const info = {
      file: vf.path,
      dataVersion: vf.dataVersion,
      versions: history.length,
      currentVersion: history.length ? current : null,
      first: history.length ? formatMicros(history[0].timestampMicros) : null,
      last: history.length ? formatMicros(history[history.length - 1].timestampMicros) : null,
      datasetPaths: paths.size,
      currentDatasets: history.length ? vf.version(current).datasets().length : 0,
      fileBytes: s.fileBytes,
      storedBytes: s.storedBytes,
      storedChunks: s.datasets.reduce((n, d) => n + d.storedChunks, 0),
      liveBytes: s.liveBytes,
      metadataBytes: s.metadataBytes,
      objectBytes: s.objectBytes,
      reclaimableBytes: s.reclaimableBytes,
      reclaimableShare: s.fileBytes > 0 ? s.reclaimableBytes / s.fileBytes : 0,
    }
    if (opts.json) return printJson(info)
    const lines = [
      `file            ${info.file}`,
      `format          data_version ${info.dataVersion}`,
      `versions        ${info.versions}${info.versions ? ` (current ${info.currentVersion})` : ''}`,
    ]
    if (info.versions) lines.push(`committed       ${info.first} … ${info.last}`)
    lines.push(`datasets        ${info.datasetPaths} path(s) over all versions, ${info.currentDatasets} in the current version`)
    lines.push(`file size       ${bytesText(info.fileBytes)}`)
    lines.push(`chunk data      ${info.storedBytes} bytes stored in ${info.storedChunks} chunks, ${info.liveBytes} bytes live (mapped by a committed version)`)
    lines.push(`live objects    ${info.objectBytes} bytes: chunk data, hash tables and ${info.metadataBytes} bytes of metadata`)
    lines.push(`reclaimable     ${info.reclaimableBytes} bytes (${percent(info.reclaimableBytes, info.fileBytes)} of the file): at most what compact would give back`)
    process.stdout.write(`${lines.join('\n')}\n`)
  })
}

// ---------------------------------------------------------------------------------
// diff, delete, compact: the history methods (VersionedFile.diff, deleteVersions,
// compact), used when this build has them.

async function cmdDiff(file, a, b, opts) {
  requireMethod('diff', 'diff')
  await withFile(file, 'r', async (vf) => {
    const options = {}
    if (opts.path !== undefined) options.path = opts.path
    if (opts.data) options.data = true
    const changes = await vf.diff(a, b, options)
    if (opts.json) return printJson(changes)
    if (!changes.length) process.stdout.write(`no differences between ${a} and ${b}\n`)
    for (const c of changes) process.stdout.write(diffText(c))
  })
}

/** A dataset's difference as text: status, path, what changed, its regions (and their values). */
function diffText(c) {
  const boxText = (r) => (Array.isArray(r) ? r : r.box).map(([s, e]) => `${s}:${e}`).join(',')
  const parts = [`${c.status.padEnd(8)} ${c.path}`]
  const change = (what, changed, from, to, fmt) => {
    if (changed) parts.push(`${what} ${fmt(from)} → ${fmt(to)}`)
  }
  change('shape', c.shapeChanged, c.oldShape, c.newShape, shapeText)
  change('dtype', c.dtypeChanged, c.oldDtype, c.newDtype, String)
  change('fill', c.fillValueChanged, c.oldFillValue, c.newFillValue, show)
  change('chunks', c.chunksChanged, c.oldChunks, c.newChunks, shapeText)
  if (c.status === 'added' && c.newShape) parts.push(`${c.newDtype} ${shapeText(c.newShape)}`)
  if (c.status === 'removed' && c.oldShape) parts.push(`${c.oldDtype} ${shapeText(c.oldShape)}`)
  if (c.attrs?.length) parts.push(`attrs ${c.attrs.join(',')}`)
  const regions = c.regions ?? []
  if (regions.length) parts.push(`regions ${regions.map(boxText).join(' ')}`)
  let text = `${parts.join('  ')}\n`
  for (const r of regions) {
    if (r && ('old' in r || 'new' in r)) text += `  ${boxText(r)}  old ${valuesText(r.old)}  new ${valuesText(r.new)}\n`
  }
  return text
}

function valuesText(v) {
  if (v === null || v === undefined) return '-'
  if (ArrayBuffer.isView(v) || Array.isArray(v)) return show(v)
  return `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(', ')}}`
}

async function cmdDelete(file, names, opts) {
  requireMethod('deleteVersions', 'delete')
  if (opts.compact) requireMethod('compact', 'delete --compact')
  await withFile(file, 'r+', async (vf) => {
    for (const n of names) if (!vf.versions.includes(n)) throw new CliError('VERSION_NOT_FOUND', `${file} has no version '${n}'`)
    if (!(await confirm(`Delete ${names.length} version(s) (${names.join(', ')}) from ${file}${opts.compact ? ' and compact it' : ''}?`, opts.yes))) {
      throw new CliError('CANCELLED', 'nothing deleted')
    }
    const before = vf.versions.length
    await withProgress('delete', 'steps', (onProgress) => vf.deleteVersions(names, { onProgress }))
    const result = { deleted: names, versions: vf.versions.length, currentVersion: vf.currentVersion }
    if (opts.compact) result.compacted = await runCompact(vf)
    if (opts.json) return printJson(result)
    process.stdout.write(`deleted ${before - result.versions} version(s); ${result.versions} left, current ${result.currentVersion}\n`)
    if (result.compacted) printCompacted(result.compacted)
  })
}

async function runCompact(vf) {
  const { bytesBefore, bytesAfter } = await withProgress('compact', 'steps', (onProgress) => vf.compact({ onProgress }))
  return { bytesBefore, bytesAfter }
}

function printCompacted(c) {
  process.stdout.write(`compacted: ${c.bytesBefore} → ${c.bytesAfter} bytes\n`)
}

async function cmdCompact(file, opts) {
  requireMethod('compact', 'compact')
  await withFile(file, 'r+', async (vf) => {
    if (!(await confirm(`Compact ${file} (rewrites the file)?`, opts.yes))) throw new CliError('CANCELLED', 'nothing changed')
    const c = await runCompact(vf)
    if (opts.json) return printJson(c)
    printCompacted(c)
  })
}

// ---------------------------------------------------------------------------------
// The command table.

function positiveInt(name) {
  return (text) => {
    if (!/^\d+$/.test(text)) throw usage(`${name}: '${text}' is not a whole number`)
    return Number(text)
  }
}

function build() {
  const program = new Command('vh5')
  program
    .description('Look into and maintain versioned HDF5 files (the format of Python versioned-hdf5).')
    .version(pkg.version, '-V, --version', 'print the version of vh5')
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`vh5: USAGE: ${text.replace(/^error: /, '')}`),
    })
    .addHelpText(
      'after',
      '\nTimes: ISO 8601 with Z or an offset (2024-05-01T09:30:00.000001Z), a date (UTC), or microseconds since the epoch.\nExit status: 0 done, 1 data or file error (vh5: CODE: message), 2 usage error.',
    )

  const command = (spec, description) => {
    const c = program.command(spec).description(description).option('--json', 'machine-readable output (JSON on stdout)')
    c.exitOverride().showHelpAfterError().configureOutput(program.configureOutput())
    return c
  }
  const versionOptions = (c) =>
    c
      .addOption(new Option('--version <name>', 'a version by name, or 0 (current), -1 (its parent), …'))
      .addOption(new Option('--at <time>', 'the version current at that time').conflicts('version'))

  command('log <file>', 'list versions newest first, with parent and timestamp (µs)')
    .option('--limit <n>', 'at most n versions', positiveInt('--limit'))
    .option('--since <time>', 'only versions committed at or after time')
    .option('--until <time>', 'only versions committed at or before time')
    .option('--graph', 'draw the branch structure')
    .action((file, opts) => cmdLog(file, opts))

  versionOptions(command('ls <file>', 'the tree of a version: groups, datasets, shape, dtype, chunks, filters, fill value, attributes, stored size')).action((file, opts) => cmdLs(file, opts))

  versionOptions(command('cat <file> <path>', 'write a dataset’s values to stdout (or -o FILE)'))
    .option('--select <sel>', "NumPy-like selection, e.g. '0:10,5' or '::2,-1'")
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'csv', 'npy']).default('json'))
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action((file, path, opts) => cmdCat(file, path, opts))

  command('diff <file> <a> <b>', 'datasets changed between versions a and b, with their regions')
    .option('--path <path>', 'only this dataset or group')
    .option('--data', 'include the old and new values of each region')
    .action((file, a, b, opts) => cmdDiff(file, a, b, opts))

  command('verify <file>', 'check the whole file; exit status 1 when it has problems').action((file, opts) => cmdVerify(file, opts))

  command('info <file>', 'format generation, version and dataset counts, file size against live bytes and what compact would reclaim').action((file, opts) => cmdInfo(file, opts))

  command('delete <file> <versions...>', 'delete versions (asks on a terminal unless --yes)')
    .option('--compact', 'compact the file afterwards')
    .option('-y, --yes', 'do not ask')
    .action((file, names, opts) => cmdDelete(file, names, opts))

  command('compact <file>', 'rewrite the file to the size of its live data (asks on a terminal unless --yes)')
    .option('-y, --yes', 'do not ask')
    .action((file, opts) => cmdCompact(file, opts))

  return program
}

async function main(argv) {
  const program = build()
  if (argv.length === 0) {
    program.outputHelp({ error: true })
    return EXIT_USAGE
  }
  try {
    await program.parseAsync(argv, { from: 'user' })
    return process.exitCode ?? 0
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0
      return EXIT_USAGE
    }
    return reportError(err)
  }
}

// A closed pipe (`vh5 cat … | head`) ends the output quietly.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0)
  throw e
})

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
