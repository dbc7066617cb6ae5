'use strict'
// Child process of history-crash.spec.ts: runs one history rewrite on the file named by
// argv[2] (argv[3]: 'delete' = deleteVersions(['h2', 'h4']), 'compact' = compact(),
// 'modify' = modifyMetadata('m/grid', ...), see history-ops.js),
// printing "done" once it returned and "closed" after the close. With VH5_FAULT_AT=n the engine
// aborts the process just before its n-th change to the file; with VH5_FAULT_ERRNO too,
// that change fails instead, and the writer prints the error's code ("failed CODE").
const { VersionedFile } = require('../../index.js')
const { rewrite } = require('./history-ops.js')

async function main() {
  const vf = VersionedFile.open(process.argv[2], { mode: 'r+' })
  try {
    await rewrite(vf, process.argv[3])
    process.stdout.write('done\n')
  } catch (e) {
    process.stdout.write(`failed ${e.code}\n`)
  }
  try {
    vf.close()
    process.stdout.write('closed\n')
  } catch (e) {
    process.stdout.write(`close failed ${e.code}\n`)
  }
}

main().catch((e) => {
  process.stderr.write(`history-writer failed: ${e.code} ${e.message}\n`)
  process.exit(3)
})
