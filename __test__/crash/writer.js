'use strict'
// Commits versions c1, c2, … to a file in a loop and prints each name once its commit
// returned. The content of version cN depends on N alone (see expected.js), so a
// parent that kills this process at any moment can check every reported version.
const { VersionedFile } = require('../../index.js')
const { CHUNK, LEN, chunkValue } = require('./expected.js')

async function main() {
  const path = process.argv[2]
  const limit = Number(process.argv[3] ?? Infinity)
  const vf = VersionedFile.open(path, { mode: 'a' })
  const done = vf.versions.filter((v) => /^c\d+$/.test(v)).map((v) => Number(v.slice(1)))
  let n = done.length ? Math.max(...done) : 0
  if (n > 0 && vf.currentVersion !== `c${n}`) throw new Error(`current version ${vf.currentVersion}, expected c${n}`)
  for (let i = 0; i < limit; i++) {
    n += 1
    const name = `c${n}`
    await vf.stageVersion(name, (g) => {
      if (n === 1) {
        g.createDataset('x', { data: new Float64Array(LEN), chunks: [CHUNK], compression: n % 2 ? 'gzip' : undefined })
        g.createDataset('log', { data: [1], chunks: [64] })
        g.createDataset('s', { data: ['c1'], chunks: [16] })
        return
      }
      const k = n % (LEN / CHUNK)
      g.dataset('x').write([[k * CHUNK, (k + 1) * CHUNK]], new Float64Array(CHUNK).fill(chunkValue(n)))
      const log = g.dataset('log')
      log.resize(n)
      log.write([n - 1], n)
      const s = g.dataset('s')
      s.resize(n)
      s.write([n - 1], name)
      g.attrs.set('n', n)
    }, { timestamp: BigInt(n) * 1000000n })
    process.stdout.write(`${name}\n`)
  }
  vf.close()
}

main().catch((e) => {
  process.stderr.write(`writer failed: ${e.code} ${e.message}\n`)
  process.exit(3)
})
