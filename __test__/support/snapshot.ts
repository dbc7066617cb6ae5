// What a reader can see of a file, as one comparable value: the crash and I/O-fault
// specs check that a failed or interrupted commit left exactly this unchanged.
import { VersionedFile } from '../../index.js'

/** Everything a reader can see: versions, current, times, attributes, every dataset's data. */
export function snapshot(path: string): unknown {
  const vf = VersionedFile.open(path, { mode: 'r' })
  try {
    const out: Record<string, unknown> = { versions: vf.versions, current: vf.currentVersion }
    for (const name of vf.versions) {
      const v = vf.version(name)
      const data: Record<string, unknown> = {}
      for (const d of v.datasets()) {
        const ds = v.dataset(d)
        const r = ds.readSync()
        data[d] = { shape: ds.shape, dtype: ds.dtype, values: Array.isArray(r) ? r : Array.from(r as ArrayLike<number>) }
      }
      out[name] = { prev: v.prevVersion, micros: String(v.timestampMicros), attrs: v.attrs.toObject(), data }
    }
    return out
  } finally {
    vf.close()
  }
}
