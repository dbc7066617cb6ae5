'use strict'
// Child process of crash.spec.ts: commits one version (fault-ops.js commitNext) to the
// file named by argv[2], printing "committed" once the commit returned; with argv[3]
// 'append', the version of stream.spec.ts that writes chunks ahead of its commit
// (stream/ops.js appendVersion). Run with VH5_FAULT_AT=n, the engine aborts the
// process just before its n-th change to the file.
const { VersionedFile } = require('../../index.js')
const commitNext = process.argv[3] === 'append' ? require('../stream/ops.js').appendVersion : require('./fault-ops.js').commitNext

async function main() {
  const vf = VersionedFile.open(process.argv[2], { mode: 'a' })
  await commitNext(vf)
  process.stdout.write('committed\n')
  vf.close()
  process.stdout.write('closed\n')
}

main().catch((e) => {
  process.stderr.write(`fault-writer failed: ${e.code} ${e.message}\n`)
  process.exit(3)
})
