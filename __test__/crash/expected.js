'use strict'
// The content of version cN of the crash tests' file, as a function of N alone.
const CHUNK = 512
const LEN = 16 * CHUNK

/** The value version n writes into its chunk. */
function chunkValue(n) {
  return n * 1.5
}

/** Expected datasets of version cN. */
function expected(n) {
  const x = new Float64Array(LEN)
  const chunks = LEN / CHUNK
  for (let k = 0; k < chunks; k++) {
    // The latest m in 2..n with m % chunks === k wrote chunk k.
    let m = n - ((n - k) % chunks + chunks) % chunks
    if (m >= 2) x.fill(chunkValue(m), k * CHUNK, (k + 1) * CHUNK)
  }
  const log = Float64Array.from({ length: n }, (_, i) => i + 1)
  const s = Array.from({ length: n }, (_, i) => `c${i + 1}`)
  return { x, log, s }
}

module.exports = { CHUNK, LEN, chunkValue, expected }
