// Demo: a trading day of one-minute close prices for three instruments, ingested in
// four versions (three intraday batches and a late correction), then read back by
// version name and by time. Run: npm run demo [-- file.h5]
import { statSync } from 'node:fs'

import { type Dataset, VersionedFile } from '../index.js'

const path = process.argv[2] ?? 'demo.h5'
const MINUTES = 390
const SYMBOLS = ['AAA', 'BBB', 'CCC']
const open = Date.parse('2024-05-01T13:30:00Z')

function prices(from: number, to: number): Float64Array {
  const out = new Float64Array((to - from) * SYMBOLS.length)
  for (let m = from; m < to; m++) {
    for (let s = 0; s < SYMBOLS.length; s++) {
      out[(m - from) * SYMBOLS.length + s] = 100 + 10 * s + Math.sin(m / 17 + s) * 2
    }
  }
  return out
}

async function main() {
  const vf = VersionedFile.open(path, { mode: 'w' })
  const batches: Array<[string, number, number]> = [['open', 0, 120], ['midday', 120, 240], ['close', 240, MINUTES]]
  for (const [name, from, to] of batches) {
    await vf.stageVersion(name, (g) => {
      const close = g.has('bars/close')
        ? (g.get('bars/close') as Dataset)
        : g.createDataset('bars/close', { shape: [MINUTES, SYMBOLS.length], chunks: [30, SYMBOLS.length], fillValue: NaN, compression: 'gzip' })
      close.write([[from, to]], prices(from, to))
      g.attrs.set('rows', to)
    }, { timestamp: new Date(open + to * 60_000) })
  }
  // A late correction of one print: only the chunk holding it is stored again.
  await vf.stageVersion('correction', (g) => {
    ;(g.get('bars/close') as Dataset).write([200, 1], 111.11)
    g.get('bars').attrs.set('note', 'BBB 16:50 print corrected')
  }, { timestamp: new Date(open + 8 * 3600_000) })

  console.log('versions:', vf.versions.join(', '), '| current:', vf.currentVersion)
  for (const h of vf.history()) console.log(`  ${h.name.padEnd(10)} parent ${h.prevVersion.padEnd(17)} at ${h.timestamp.toISOString()}`)

  const row200 = async (v: string) => Array.from(await (vf.version(v).get('bars/close') as Dataset).read<Float64Array>([200]))
  console.log('minute 200 in "close":     ', (await row200('close')).map((x) => x.toFixed(2)).join(' '))
  console.log('minute 200 in "correction":', (await row200('correction')).map((x) => x.toFixed(2)).join(' '))

  const at = new Date(open + 150 * 60_000) // what did we know at 16:00 UTC?
  const v = vf.versionAt(at)
  const known = await (v.get('bars/close') as Dataset).read<Float64Array>([null, 0])
  const filled = Array.from(known).filter((x) => !Number.isNaN(x)).length
  console.log(`as of ${at.toISOString()}: version "${v.name}", ${filled} of ${MINUTES} minutes of AAA known`)
  vf.close()
  console.log(`file ${path}: ${(statSync(path).size / 1024).toFixed(1)} KiB`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
