'use strict'
// check(vf, name) for the files the crash tests' writer writes (../crash/writer.js).
const { expected } = require('../crash/expected.js')
const { firstDifference } = require('./expected.js')

exports.check = (vf, name) => {
  const e = expected(Number(name.slice(1)))
  const v = vf.version(name)
  for (const [k, want] of [['x', e.x], ['log', e.log], ['s', e.s]]) {
    const got = v.dataset(k).readSync()
    const i = firstDifference(got, want)
    if (i >= 0) return `${k}[${i}] is ${got[i]}, not ${want[i]}`
  }
  return null
}
