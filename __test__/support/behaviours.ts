// Helpers of the ported Python behaviours (behaviours.spec.ts) shared with the per-class
// specs that hold some of those behaviours.
import type { Dataset, Group, StagedGroup, Version, VersionedFile } from '../../index.js'
import { py } from '../helpers.js'

export const C = 4096 // DEFAULT_CHUNK_SIZE

// ---- narrow views of the binding's unions (read() and get() return unions) ---------------
export interface NewDatasetApi {
  resize(shape: number[] | number, options?: { axis?: number }): void
  readonly compressionLevel: number | null
  readonly shuffle: boolean
  readonly fletcher32: boolean
  readonly ndim: number
  readonly size: number
}
export interface NewLookupApi {
  has(path: string): boolean
  dataset(path: string): Dataset
  group(path: string): Group
}
export const nd = (d: Dataset) => d as unknown as Dataset & NewDatasetApi
export const lk = (x: Version | Group) => x as unknown as NewLookupApi
export const slk = (g: StagedGroup) => g as unknown as { dataset(path: string): Dataset; group(path: string): StagedGroup }
export const nth = (vf: VersionedFile, n: number) => (vf as unknown as { version(n: number): Version }).version(n)
/** createDataset options with string data / string dtypes. */
export const sopts = (o: { data?: string[]; shape?: number[]; dtype?: string; chunks?: number[]; fillValue?: string; hash?: string }) => o as any

// ---- small helpers ------------------------------------------------------------------------
export type Num = number | bigint
export const nums = (a: unknown): number[] => Array.from(a as ArrayLike<Num>, Number)
export const strs = (a: unknown): string[] => Array.from(a as ArrayLike<string>)
export const uniq = (a: unknown): number[] => [...new Set(nums(a))].sort((x, y) => x - y)
export const ones = (n: number) => new Float64Array(n).fill(1)
export const i64 = (xs: number[]) => BigInt64Array.from(xs, BigInt)
export const arange64 = (a: number, b: number) => BigInt64Array.from({ length: b - a }, (_, i) => BigInt(a + i))
/** [1]*2C + [2]*C + [3]*C, the data of most Python tests. */
export const step = () => Float64Array.from({ length: 4 * C }, (_, i) => (i < 2 * C ? 1 : i < 3 * C ? 2 : 3))
export const sub = (x: Version | Group | StagedGroup, path: string) => x.get(path) as unknown as Group & StagedGroup
export const at = (d: Dataset, ...idx: number[]) => Number((d.readSync(idx) as ArrayLike<Num>)[0])

export type T = { pass: (m?: string) => void; fail: (m: string) => void }
/** Element-wise equality with a short message at the first difference. */
export function same(t: T, got: unknown, want: unknown, label = '') {
  const g = Array.from(got as ArrayLike<unknown>)
  const w = Array.from(want as ArrayLike<unknown>)
  let i = 0
  while (i < g.length && i < w.length && String(g[i]) === String(w[i])) i++
  if (g.length === w.length && i === g.length) t.pass(label)
  else t.fail(`${label}: length ${g.length} (want ${w.length}); first difference at ${i}: got ${String(g[i])}, want ${String(w[i])}`)
}

/** Runs `body` in python with `f` = the file opened read-only by h5py; prints `out` as JSON. */
export function h5<R = any>(path: string, body: string, ...args: string[]): R {
  return py<R>(`import h5py, json, sys\nimport numpy as np\nf = h5py.File(sys.argv[1], 'r')\n${body}\nprint(json.dumps(out))`, path, ...args)
}

/** Unique values of each C-row slot of a 1-D raw_data. */
export const SLOTS = `rd = f['_version_data/' + sys.argv[2] + '/raw_data'][()]
c = int(sys.argv[3])
slots = [np.unique(rd[i*c:(i+1)*c]).tolist() for i in range(rd.shape[0] // c)]`

export const sortSlots = (s: number[][]) => [...s].sort((a, b) => String(a).localeCompare(String(b)))
