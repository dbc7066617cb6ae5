'use strict'
// Commits versions v1 … vN (N = argv[3]) to the file at argv[2] and prints each name
// once its commit returned. See expected.js for what vN holds.
const { VersionedFile } = require('../../index.js')
const { CHUNK, x } = require('./expected.js')

async function main() {
  const [path, count] = process.argv.slice(2)
  const n0 = Number(process.argv[4] ?? 0)
  const vf = VersionedFile.open(path, { mode: 'a' })
  for (let n = n0 + 1; n <= n0 + Number(count); n++) {
    await vf.stageVersion(`v${n}`, (g) => {
      if (n === 1) {
        g.createDataset('x', { data: x(1), chunks: [CHUNK] })
        g.createDataset('log', { data: [1], chunks: [CHUNK] })
        return
      }
      const k = n % 4
      g.dataset('x').write([[k * CHUNK, (k + 1) * CHUNK]], x(n).subarray(k * CHUNK, (k + 1) * CHUNK))
      const log = g.dataset('log')
      log.resize(n)
      log.write([n - 1], n)
    })
    process.stdout.write(`v${n}\n`)
  }
  vf.close()
}

main().catch((e) => {
  process.stderr.write(`writer failed: ${e.code} ${e.message}\n`)
  process.exit(3)
})
