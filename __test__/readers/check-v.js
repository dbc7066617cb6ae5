'use strict'
// check(vf, name) for the files writer.js writes (see reader.js).
const { x, log, firstDifference } = require('./expected.js')

exports.check = (vf, name) => {
  const n = Number(name.slice(1))
  const v = vf.version(name)
  const gx = v.dataset('x').readSync()
  let i = firstDifference(gx, x(n))
  if (i >= 0) return `x[${i}] is ${gx[i]}, not ${x(n)[i]}`
  const gl = v.dataset('log').readSync()
  i = firstDifference(gl, log(n))
  if (i >= 0) return `log[${i}] is ${gl[i]}, not ${log(n)[i]} (length ${gl.length}, not ${n})`
  return null
}
