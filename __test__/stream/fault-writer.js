'use strict'
// Child process of stream.spec.ts: commits the spilling version (ops.js appendVersion)
// to the file named by argv[2], printing "committed" once the commit returned. With
// VH5_FAULT_AT=n the engine aborts the process just before its n-th change to the file.
const { VersionedFile } = require('../../index.js')
const { appendVersion } = require('./ops.js')

async function main() {
  const vf = VersionedFile.open(process.argv[2], { mode: 'a' })
  await appendVersion(vf)
  process.stdout.write('committed\n')
  vf.close()
}

main().catch((e) => {
  process.stderr.write(`fault-writer failed: ${e.code} ${e.message}\n`)
  process.exit(3)
})
