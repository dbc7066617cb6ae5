'use strict'
// Child process of stream.spec.ts: appends to one version without end, with a budget
// of 64 KiB, printing "spilling" once chunks went to the file; the test kills it.
const { VersionedFile } = require('../../index.js')

async function main() {
  const vf = VersionedFile.open(process.argv[2], { mode: 'a' })
  await vf.stageVersion('endless', async (g) => {
    const x = g.dataset('x')
    const block = new Float64Array(4096)
    for (let p = 0; ; p++) {
      block.fill(p)
      await x.append(block)
      if (p === 8) process.stdout.write('spilling\n')
    }
  }, { memoryBudget: 65536 })
}

main().catch((e) => {
  process.stderr.write(`endless-writer failed: ${e.code} ${e.message}\n`)
  process.exit(3)
})
