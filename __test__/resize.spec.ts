// Resize checked against plain h5py: spec §4.1 item 17 (test_resize_multiple_dimensions,
// reduced to a {5, 12, 20}³ grid) and several resizes inside one staged version (items 15,
// 20, 32 style sequences, with writes in between, across versions, through size 0).
//
// Each scenario is a dataset (arange data, or sparse), a chunk shape, a fill value and a
// list of versions, each a list of operations (resize / write a box / read one element).
// This library applies them version by version (first version: createDataset, then the
// ops); ONE python process applies the same ops to a plain chunked h5py dataset with
// maxshape None, snapshots it after each version (the ground truth, written as float64 to
// a binary file), and also reads this library's virtual datasets back with h5py. Then every
// staged read (right after the ops, before commit) and every committed read is compared
// element by element with the snapshot.
import test from 'ava'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'

import { VersionedFile, type Dataset } from '../index.js'
import { ds, py, tmpFile } from './helpers.js'
import { unravel } from './support/selection.js'

type Box = Array<[number, number]>
type Op = { resize: number[] } | { write: Box; value: number } | { read: number[] }
interface Scenario {
  name: string
  label: string
  dtype: 'int64' | 'float64'
  shape: number[]
  chunks: number[]
  fill: number
  /** Created with shape only (no data): every element starts as the fill value. */
  sparse?: boolean
  versions: Op[][]
}

/** Dataset with its resize method typed narrowly for these tests. */
const resizable = (d: Dataset) => d as unknown as Dataset & { resize(shape: number[] | number, options?: { axis?: number }): void }

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1)

function createOptions(s: Scenario) {
  const n = prod(s.shape)
  const base = { shape: s.shape, chunks: s.chunks, dtype: s.dtype }
  if (s.dtype === 'int64') {
    const fillValue = BigInt(s.fill)
    return s.sparse ? { ...base, fillValue } : { ...base, fillValue, data: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) }
  }
  return s.sparse ? { ...base, fillValue: s.fill } : { ...base, fillValue: s.fill, data: Float64Array.from({ length: n }, (_, i) => i) }
}

function apply(d: Dataset, s: Scenario, op: Op) {
  if ('resize' in op) resizable(d).resize(op.resize)
  else if ('write' in op) d.write(op.write, s.dtype === 'int64' ? BigInt(op.value) : op.value)
  else d.readSync(op.read)
}

const toF64 = (a: unknown) => Float64Array.from(a as ArrayLike<number | bigint>, Number)

/** First difference between two arrays, as text, or null when equal. */
function diff(got: Float64Array, gotShape: number[], want: Float64Array, wantShape: number[]): string | null {
  if (JSON.stringify(gotShape) !== JSON.stringify(wantShape)) return `shape ${JSON.stringify(gotShape)}, want ${JSON.stringify(wantShape)}`
  if (got.length !== want.length) return `${got.length} elements, want ${want.length}`
  let bad = 0
  let first = -1
  for (let i = 0; i < got.length; i++) {
    if (!Object.is(got[i], want[i])) {
      bad++
      if (first < 0) first = i
    }
  }
  if (!bad) return null
  return `${bad} elements differ, first at ${JSON.stringify(unravel(first, wantShape))}: got ${got[first]}, want ${want[first]}`
}

const TRUTH = `import h5py, json, sys
import numpy as np
sc = json.load(open(sys.argv[1]))
mem = h5py.File('truth', 'w', driver='core', backing_store=False)
vfile = h5py.File(sys.argv[3], 'r')
index, vds = {}, []
with open(sys.argv[2], 'wb') as out:
    for s in sc:
        shape = tuple(s['shape'])
        kw = dict(chunks=tuple(s['chunks']), maxshape=(None,) * len(shape), fillvalue=s['fill'])
        if s.get('sparse'):
            d = mem.create_dataset(s['name'], shape=shape, dtype=s['dtype'], **kw)
        else:
            d = mem.create_dataset(s['name'], data=np.arange(int(np.prod(shape)), dtype=s['dtype']).reshape(shape), **kw)
        snaps = []
        for k, ops in enumerate(s['versions']):
            for op in ops:
                if 'resize' in op:
                    d.resize(tuple(op['resize']))
                elif 'write' in op:
                    d[tuple(slice(a, b) for a, b in op['write'])] = op['value']
                else:
                    d[tuple(op['read'])]
            a = d[()]
            snaps.append({'shape': list(a.shape), 'offset': out.tell() // 8, 'size': int(a.size)})
            out.write(np.ascontiguousarray(a, dtype='<f8').tobytes())
            v = vfile['_version_data/versions/v%d/%s' % (k, s['name'])]
            if v.shape != a.shape or v.dtype != a.dtype or not np.array_equal(v[()], a):
                vds.append('%s v%d (%s): h5py reads %s %s' % (s['name'], k, s['label'], v.dtype, list(v.shape)))
        index[s['name']] = snaps
print(json.dumps({'index': index, 'vds': vds}))`

interface Outcome {
  /** Differences between this library (staged and committed reads) and plain h5py. */
  mismatches: string[]
  /** Versions whose virtual dataset, read by h5py, differs from plain h5py. */
  vds: string[]
}

async function runScenarios(scenarios: Scenario[], tag: string): Promise<Outcome> {
  const p = tmpFile(tag)
  const vf = VersionedFile.open(p, { mode: 'w' })
  const staged = new Map<string, { shape: number[]; data: Float64Array }>()
  const nv = Math.max(...scenarios.map((s) => s.versions.length))
  for (let k = 0; k < nv; k++) {
    await vf.stageVersion(`v${k}`, (g) => {
      for (const s of scenarios) {
        if (k >= s.versions.length) continue
        const d = k === 0 ? g.createDataset(s.name, createOptions(s)) : ds(g, s.name)
        for (const op of s.versions[k]) apply(d, s, op)
        staged.set(`${s.name}@${k}`, { shape: [...d.shape], data: toF64(d.readSync()) })
      }
    })
  }
  vf.close()

  writeFileSync(`${p}.json`, JSON.stringify(scenarios))
  const res = py<{ index: Record<string, Array<{ shape: number[]; offset: number; size: number }>>; vds: string[] }>(TRUTH, `${p}.json`, `${p}.bin`, p)
  const buf = readFileSync(`${p}.bin`)
  const truth = new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength))

  const mismatches: string[] = []
  const r = VersionedFile.open(p, { mode: 'r' })
  const versions = Array.from({ length: nv }, (_, k) => r.version(`v${k}`))
  for (const s of scenarios) {
    for (const [k, snap] of res.index[s.name].entries()) {
      const want = truth.subarray(snap.offset, snap.offset + snap.size)
      const st = staged.get(`${s.name}@${k}`)!
      const sd = diff(st.data, st.shape, want, snap.shape)
      if (sd) mismatches.push(`${s.name} v${k} (${s.label}) staged: ${sd}`)
      const d = ds(versions[k], s.name)
      const cd = diff(toF64(d.readSync()), d.shape, want, snap.shape)
      if (cd) mismatches.push(`${s.name} v${k} (${s.label}) committed: ${cd}`)
    }
  }
  r.close()
  // The grid's files are large: keep the versioned file only when something differs.
  rmSync(`${p}.json`)
  rmSync(`${p}.bin`)
  if (!mismatches.length && !res.vds.length) rmSync(p)
  return { mismatches, vds: res.vds }
}

/** At most `n` lines, plus how many more. */
const firstLines = (xs: string[], n = 12) => (xs.length > n ? [...xs.slice(0, n), `… and ${xs.length - n} more`] : xs)

/** The box [lo, hi) clipped to `shape` (never empty for a non-empty shape). */
const clip = (shape: number[], lo: number[], hi: number[]): Box => shape.map((n, i) => [Math.min(lo[i], n - 1), Math.min(hi[i], n)])
const lastElement = (shape: number[]): Box => shape.map((n) => [n - 1, n])

// ---- the §4.1-17 grid ---------------------------------------------------------------------

const SIZES = [5, 12, 20]
const SHAPES = SIZES.flatMap((a) => SIZES.flatMap((b) => SIZES.map((c) => [a, b, c])))

test('§4.1-17 every (old, new) pair of {5,12,20}³ with chunks [10,10,10], fill -1 resizes like h5py: (a) at creation, (b) inherited, (c) after writes in the same version', async (t) => {
  const scenarios: Scenario[] = []
  let i = 0
  for (const old of SHAPES) {
    for (const neu of SHAPES) {
      const base = { dtype: (i % 2 ? 'float64' : 'int64') as Scenario['dtype'], shape: old, chunks: [10, 10, 10], fill: -1, label: `${old.join('x')} -> ${neu.join('x')}` }
      scenarios.push({ ...base, name: `a_${i}`, versions: [[{ resize: neu }]] })
      scenarios.push({ ...base, name: `b_${i}`, versions: [[], [{ resize: neu }]] })
      scenarios.push({
        ...base,
        name: `c_${i}`,
        versions: [
          [],
          [
            { read: [0, 0, 0] },
            { read: [-1, -1, -1] },
            { write: clip(old, [3, 0, 8], [13, 4, 12]), value: -5 },
            { write: lastElement(old), value: -7 },
            { resize: neu },
          ],
        ],
      })
      i++
    }
  }
  const { mismatches, vds } = await runScenarios(scenarios, 'grid')
  for (const mode of ['a', 'b', 'c']) {
    t.deepEqual(firstLines(mismatches.filter((m) => m.startsWith(`${mode}_`))), [], `mode (${mode}) differs from h5py`)
  }
  t.deepEqual(firstLines(vds), [], 'h5py reading the versioned file differs from plain h5py')
})

// ---- several resizes per staged version -----------------------------------------------------

const SEQUENCES: Scenario[] = [
  {
    name: 'grow_shrink_grow_3d_new',
    label: 'created, then grow / write / shrink / grow in the same version: shrunk data must not come back',
    dtype: 'int64', shape: [12, 12, 12], chunks: [10, 10, 10], fill: -1,
    versions: [[{ resize: [20, 20, 20] }, { write: [[8, 20], [0, 20], [15, 20]], value: -5 }, { resize: [5, 5, 5] }, { resize: [20, 20, 20] }]],
  },
  {
    name: 'grow_shrink_grow_3d_inherited',
    label: 'inherited, grow / write / shrink / grow in one version',
    dtype: 'int64', shape: [12, 12, 12], chunks: [10, 10, 10], fill: -1,
    versions: [[], [{ resize: [20, 20, 20] }, { write: [[8, 20], [0, 20], [15, 20]], value: -5 }, { resize: [5, 5, 5] }, { resize: [20, 20, 20] }]],
  },
  {
    name: 'mixed_axes_3d',
    label: 'axes grow and shrink independently, writes in between, over three versions',
    dtype: 'float64', shape: [12, 12, 12], chunks: [10, 10, 10], fill: -1,
    versions: [
      [],
      [
        { resize: [20, 5, 12] },
        { write: [[3, 20], [0, 5], [0, 12]], value: -5 },
        { resize: [5, 20, 20] },
        { write: [[0, 5], [5, 20], [15, 20]], value: -6 },
        { resize: [13, 7, 20] },
      ],
      [{ resize: [20, 20, 20] }, { resize: [12, 12, 12] }],
    ],
  },
  {
    name: 'one_d_fill_5',
    label: '1-D with fill 5: grow, write tail, shrink, grow, write; then shrink/grow; then overwrite and shrink',
    dtype: 'float64', shape: [25], chunks: [10], fill: 5,
    versions: [
      [{ resize: [35] }, { write: [[30, 35]], value: 7 }, { resize: [12] }, { resize: [40] }, { write: [[38, 40]], value: 9 }],
      [{ resize: [5] }, { resize: [25] }],
      [{ write: [[0, 25]], value: 1 }, { resize: [10] }, { resize: [11] }],
    ],
  },
  {
    name: 'full_overwrite_then_resizes_2d',
    label: '2-D full overwrite (hot swap) then grow, shrink, grow',
    dtype: 'int64', shape: [7, 9], chunks: [3, 4], fill: 0,
    versions: [[], [{ write: [[0, 7], [0, 9]], value: -3 }, { resize: [10, 10] }, { resize: [2, 2] }, { resize: [7, 9] }]],
  },
  {
    name: 'through_zero_1d',
    label: '1-D resized to 0, then grown and written in the next version',
    dtype: 'int64', shape: [12], chunks: [5], fill: -1,
    versions: [[{ resize: [0] }], [{ resize: [13] }, { write: [[10, 13]], value: 4 }]],
  },
  {
    name: 'zero_axis_3d',
    label: '3-D with one axis resized to 0, regrown, written, shrunk',
    dtype: 'float64', shape: [5, 5, 5], chunks: [10, 10, 10], fill: -1,
    versions: [[{ resize: [5, 0, 5] }], [{ resize: [12, 12, 12] }], [{ write: [[0, 12], [0, 1], [0, 12]], value: 2 }, { resize: [12, 3, 12] }]],
  },
  {
    name: 'shrink_inside_edge_chunk',
    label: 'shrink within the edge chunk then grow in the same version (§1.7: old slot content must not resurface)',
    dtype: 'int64', shape: [25], chunks: [10], fill: -1,
    versions: [[], [{ resize: [23] }, { resize: [27] }], [{ resize: [30] }]],
  },
  {
    name: 'shrink_commit_grow',
    label: 'shrink within the edge chunk, commit, grow in the next version',
    dtype: 'int64', shape: [25], chunks: [10], fill: -1,
    versions: [[], [{ resize: [23] }], [{ resize: [27] }]],
  },
  {
    name: 'sparse_2d',
    label: 'sparse (5,5) chunks (3,3): writes, (6,6), (4,3), then (9,9) and a write in the next version',
    dtype: 'float64', shape: [5, 5], chunks: [3, 3], fill: 0, sparse: true,
    versions: [
      [{ write: [[0, 1], [0, 1]], value: 1 }, { write: [[4, 5], [4, 5]], value: 2 }, { resize: [6, 6] }, { resize: [4, 3] }],
      [{ resize: [9, 9] }, { write: [[8, 9], [8, 9]], value: 3 }],
    ],
  },
  {
    name: 'sparse_grow_twice',
    label: 'sparse 1-D grown twice with writes after each growth (test_resize_int_types_grow)',
    dtype: 'int64', shape: [17], chunks: [3], fill: 0, sparse: true,
    versions: [[], [{ resize: [24] }, { write: [[17, 24]], value: 6 }, { resize: [31] }, { write: [[24, 31]], value: 7 }]],
  },
]

test('§4.1-15/17/20/32 several resizes inside one staged version (grow, shrink, grow, through 0, with writes) match h5py', async (t) => {
  const { mismatches, vds } = await runScenarios(SEQUENCES, 'seq')
  t.deepEqual(firstLines(mismatches, 40), [])
  t.deepEqual(vds, [])
})

// ---- the harness itself, with no resize at all ---------------------------------------------

test('control: the same harness without resize (writes and reads only) matches h5py', async (t) => {
  const scenarios: Scenario[] = [
    {
      name: 'ctl_3d', label: 'writes across chunk borders over three versions', dtype: 'int64', shape: [12, 20, 5], chunks: [10, 10, 10], fill: -1,
      versions: [[{ write: [[3, 13], [0, 4], [2, 5]], value: -5 }], [{ read: [-1, -1, -1] }, { write: [[11, 12], [19, 20], [4, 5]], value: -7 }], [{ write: [[0, 12], [0, 20], [0, 5]], value: 3 }]],
    },
    {
      name: 'ctl_sparse_1d', label: 'sparse 1-D with fill 5', dtype: 'float64', shape: [25], chunks: [10], fill: 5, sparse: true,
      versions: [[{ write: [[3, 4]], value: 1 }], [{ write: [[20, 25]], value: 2 }]],
    },
  ]
  const { mismatches, vds } = await runScenarios(scenarios, 'ctl')
  t.deepEqual(mismatches, [])
  t.deepEqual(vds, [])
  // The comparison can fail: a wrong expectation is reported.
  const want = new Float64Array([0, 1, 2])
  t.truthy(diff(new Float64Array([0, 1, 3]), [3], want, [3]))
  t.truthy(diff(new Float64Array([0, 1, 2]), [1, 3], want, [3]))
  t.is(diff(new Float64Array([0, 1, 2]), [3], want, [3]), null)
})
