'use strict'
// Child process of stream.spec.ts: commits the spilling version (ops.js appendVersion)
// while VH5_FAULT_AT=n and VH5_FAULT_ERRNO make the n-th change to the file fail; after
// a failure, checks the file is as the open left it, and commits again with the same
// handle. Prints one JSON line.
const { readFileSync } = require('node:fs')
const { VersionedFile } = require('../../index.js')
const { appendVersion } = require('./ops.js')

async function main() {
  const path = process.argv[2]
  const out = {}
  const vf = VersionedFile.open(path, { mode: 'a' })
  // Open for writing, libhdf5 marks the superblock: the bytes to keep are the open's.
  const open = readFileSync(path)
  try {
    await appendVersion(vf)
    out.committed = true
  } catch (e) {
    out.failed = { code: e.code, message: e.message }
    out.same = readFileSync(path).equals(open)
    await appendVersion(vf)
    out.retried = true
  }
  vf.close()
  process.stdout.write(`${JSON.stringify(out)}\n`)
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ crashed: { code: e.code, message: e.message } })}\n`)
  process.exit(3)
})
