// The README pattern "one version per N rows or per second, over several columns":
// ticks of time (int64 µs), price (float64), size (int32) and venue (string), one
// dataset per column, every column of a batch appended in the same version, a commit
// when the batch is full or old enough. Run by __test__/stream.spec.ts.
import type { Dataset, StagedGroup, VersionedFile } from '../index.js'

export interface Tick {
  time: bigint
  price: number
  size: number
  venue: string
}

const COLUMNS = { time: 'int64', price: 'float64', size: 'int32', venue: 'string' } as const

function column(b: Tick[], name: keyof Tick): BigInt64Array | Float64Array | Int32Array | string[] {
  switch (name) {
    case 'time':
      return BigInt64Array.from(b, (t) => t.time)
    case 'price':
      return Float64Array.from(b, (t) => t.price)
    case 'size':
      return Int32Array.from(b, (t) => t.size)
    case 'venue':
      return b.map((t) => t.venue)
  }
}

/** Commits `ticks` in versions of at most `rows` ticks, or `ms` milliseconds of them. */
export async function ingest(vf: VersionedFile, ticks: AsyncIterable<Tick>, { rows = 10_000, ms = 1000 } = {}): Promise<void> {
  let batch: Tick[] = []
  let since = Date.now()
  const commit = async () => {
    const b = batch
    batch = []
    since = Date.now()
    await vf.stageVersion(`ticks-${b[0].time}`, async (g: StagedGroup) => {
      for (const [name, dtype] of Object.entries(COLUMNS) as Array<[keyof Tick, string]>) {
        const ds = (g.has(name) ? g.dataset(name) : g.createDataset(name, { shape: [0], dtype, chunks: [65536] })) as Dataset
        await ds.append(column(b, name))
      }
    }, { timestamp: b[b.length - 1].time }) // the version's time is its last tick's
  }
  for await (const tick of ticks) {
    batch.push(tick)
    if (batch.length >= rows || Date.now() - since >= ms) await commit()
  }
  if (batch.length) await commit()
}
