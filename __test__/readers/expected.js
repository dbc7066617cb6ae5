'use strict'
// What version vN of the readers' test file holds, from N alone, so that a reader in
// another process can check every element of any version it reads.
//  - x: 64 float64 in 4 chunks of 16; commit N rewrites chunk N % 4 with N * 1000 + i.
//  - log: N float64 (grows by one each commit, chunks of 16): log[j] = j + 1.
const CHUNK = 16
const LEN = 64

/** x in version vN. */
function x(n) {
  const out = new Float64Array(LEN)
  for (let k = 0; k < LEN / CHUNK; k++) {
    // The last commit m <= n with m % 4 == k wrote chunk k (v1 writes all of x).
    let m = n - ((n - k) % 4 + 4) % 4
    if (m < 1) m = 1
    for (let i = 0; i < CHUNK; i++) out[k * CHUNK + i] = m * 1000 + i
  }
  return out
}

/** log in version vN. */
function log(n) {
  return Float64Array.from({ length: n }, (_, j) => j + 1)
}

/** Index of the first element where `a` differs from `b`, or -1. */
function firstDifference(a, b) {
  if (a.length !== b.length) return Math.min(a.length, b.length)
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i
  return -1
}

module.exports = { CHUNK, LEN, x, log, firstDifference }
