'use strict'
// A reader process for readers.spec.ts. argv: path, kind, expected-module.
//  kind 'refresh': refreshes, then reads the newest version and a random older one,
//    element by element, in a loop; reopens the file now and then.
//  kind 'still': opens once and never refreshes: reads random versions it knew.
// The expected module exports `check(vf, name)`, which returns null or what was wrong.
// Stops when its stdin closes, then refreshes once more and prints a JSON summary.
const { VersionedFile } = require('../../index.js')

const [path, kind, expectedModule] = process.argv.slice(2)
const { check } = require(expectedModule)

let stop = false
process.stdin.on('end', () => (stop = true))
process.stdin.on('data', () => {})
process.stdin.resume()

let seed = process.pid
const rand = (n) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n)

async function main() {
  const out = { reads: 0, wrong: [], errors: [], refreshes: 0, reopens: 0, newSeen: 0, versions: 0 }
  let vf = VersionedFile.open(path, { mode: 'r' })
  const knew = vf.versions
  let versions = knew
  // A pause between rounds: readers that spin would take the machine's cores from the writer.
  const tick = () => new Promise((r) => setTimeout(r, 1))
  while (!stop) {
    try {
      if (kind === 'refresh') {
        const fresh = vf.refresh()
        out.refreshes += 1
        out.newSeen += fresh.length
        if (fresh.length > 0) {
          versions = vf.versions
          const last = versions[versions.length - 1]
          if (fresh[fresh.length - 1] !== last) out.wrong.push(`refresh returned ${fresh.slice(-1)}, versions ends with ${last}`)
        }
        if (rand(200) === 0) {
          vf.close()
          vf = VersionedFile.open(path, { mode: 'r' })
          out.reopens += 1
          versions = vf.versions
        }
      } else if (vf.versions.length !== knew.length) {
        out.wrong.push(`a handle that never refreshes now lists ${vf.versions.length} versions, not ${knew.length}`)
      }
      if (versions.length > 0) {
        const picks = kind === 'refresh' ? [versions[versions.length - 1], versions[rand(versions.length)]] : [versions[rand(versions.length)]]
        for (const name of picks) {
          const bad = check(vf, name)
          out.reads += 1
          if (bad) out.wrong.push(`${name}: ${bad}`)
        }
      }
    } catch (e) {
      out.errors.push(`${e.code} ${e.message}`)
    }
    if (out.errors.length > 20 || out.wrong.length > 20) break
    await tick()
  }
  try {
    if (kind === 'refresh') vf.refresh()
    out.versions = vf.versions.length
    out.current = vf.currentVersion
    vf.close()
  } catch (e) {
    out.errors.push(`${e.code} ${e.message}`)
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ fatal: `${e.code} ${e.message}` }) + '\n')
})
