'use strict'
// Child process of stream.spec.ts: appends argv[3] MiB of float64 in 4 MiB pieces to a
// new dataset with a 16 MiB memory budget, commits, then reads the version back with
// readBlocks and checks every value; prints JSON with the peak RSS (MiB) after each
// phase. Row i holds i % 1,000,003 (most chunks differ: deduplication cannot hide data).
// ROWS sets the rows per block (default 262,144: 2 MiB), SYNC=1 reads with
// readBlocksSync.
const { VersionedFile } = require('../../index.js')

const MiB = 1 << 20

async function main() {
  const path = process.argv[2]
  const total = Number(process.argv[3]) * MiB / 8
  const pieceRows = 4 * MiB / 8
  const vf = VersionedFile.open(path, { mode: 'w' })
  const piece = new Float64Array(pieceRows)
  const rss = () => process.resourceUsage().maxRSS / 1024
  const base = rss()
  await vf.stageVersion('v1', async (g) => {
    const x = g.createDataset('x', { shape: [0], dtype: 'float64', chunks: [32768] })
    for (let at = 0; at < total; at += pieceRows) {
      for (let i = 0; i < pieceRows; i++) piece[i] = (at + i) % 1_000_003
      await x.append(piece)
    }
  }, { memoryBudget: 16 * MiB })
  const ingest = rss()
  const ds = vf.version('v1').dataset('x')
  let at = 0
  let bad = 0
  for await (const block of (process.env.SYNC ? ds.readBlocksSync : ds.readBlocks).call(ds, { rows: Number(process.env.ROWS || 262144) })) {
    for (let i = 0; i < block.length; i++) if (block[i] !== (at + i) % 1_000_003) bad += 1
    at += block.length
  }
  vf.close()
  process.stdout.write(JSON.stringify({ base, ingest, read: rss(), rows: at, bad, shape: ds.shape }) + '\n')
}

main().catch((e) => {
  process.stderr.write(`big failed: ${e.code} ${e.message}\n`)
  process.exit(3)
})
