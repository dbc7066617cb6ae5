'use strict'
// Child process of io-faults.spec.ts: opens the file named by argv[2] and commits one
// version (fault-ops.js commitNext) while VH5_FAULT_AT=n and VH5_FAULT_ERRNO=ENOSPC|EIO
// make the n-th change to the file fail with that error. argv[3] is a copy of the file
// as it was before; argv[4] is the mode:
//   retry: after a failed commit, check the file is unchanged while the handle is open,
//          then commit again with the same handle, then close;
//   close: after a failed commit, close, check the file is unchanged, open it again
//          (a new handle), check again.
// Prints one JSON line: what happened at each step.
const { readFileSync } = require('node:fs')
const { VersionedFile } = require('../../index.js')
const { commitNext } = require('./fault-ops.js')

const same = (a, b) => readFileSync(a).equals(Buffer.isBuffer(b) ? b : readFileSync(b))

async function main() {
  const [path, before, mode] = process.argv.slice(2)
  const out = {}
  const vf = VersionedFile.open(path, { mode: 'a' })
  // While open for writing, the superblock carries libhdf5's open mark: the bytes to
  // keep are the ones the open left.
  const open = readFileSync(path)
  try {
    await commitNext(vf)
    out.committed = true
  } catch (e) {
    out.failed = { code: e.code, message: e.message }
    out.sameWhileOpen = same(path, open)
    out.sameAsBeforeWhileOpen = same(path, before)
    if (mode === 'retry' && out.failed.message.includes('ready for the next one')) {
      await commitNext(vf)
      out.retried = true
    }
  }
  try {
    vf.close()
    out.closed = true
  } catch (e) {
    out.closeFailed = { code: e.code, message: e.message }
  }
  if (mode === 'close' && out.failed && out.failed.message.includes('ready for the next one')) {
    out.sameAfterClose = same(path, before)
    const again = VersionedFile.open(path, { mode: 'r+' })
    out.recovered = again.recovered
    again.close()
    out.sameAfterReopen = same(path, before)
  }
  process.stdout.write(`${JSON.stringify(out)}\n`)
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ crashed: { code: e.code, message: e.message } })}\n`)
  process.exit(3)
})
