// The README quick start: commit a few versions of a price series, then read them
// back by name and by time. Run with `npx tsx examples/quickstart.ts [file]`.
import { VersionedFile } from '../index.js'

export async function quickstart(path = 'quickstart.h5'): Promise<Float64Array> {
  const vf = VersionedFile.open(path, { mode: 'w' })

  // Version 1: a new dataset, chunked by 4 rows, plus a group with an attribute.
  await vf.stageVersion('v1', (g) => {
    g.createDataset('prices', { data: new Float64Array([10, 11, 12, 13, 14, 15]), chunks: [4] })
    g.createGroup('meta').attrs.set('source', 'feed-a')
  }, { timestamp: '2024-05-01T09:30:00.000000Z' })

  // Version 2: change two cells; only the touched chunk is stored again.
  await vf.stageVersion('v2', async (g) => {
    const prices = g.get('prices') as import('../index.js').Dataset
    prices.write([[1, 3]], new Float64Array([11.5, 12.5]))
  }, { timestamp: '2024-05-01T09:31:00.000000Z' })

  // Read back by name and by time.
  const v1 = await (vf.version('v1').get('prices') as import('../index.js').Dataset).read<Float64Array>()
  const atTime = vf.versionAt(new Date('2024-05-01T09:30:30Z')) // latest at or before
  const latest = await (vf.version(vf.currentVersion).get('prices') as import('../index.js').Dataset).read<Float64Array>()
  console.log('v1     ', Array.from(v1))
  console.log('at 9:30:30 →', atTime.name)
  console.log('current', vf.currentVersion, Array.from(latest))
  vf.close()
  return latest
}

if (process.argv[1]?.endsWith('quickstart.ts')) {
  quickstart(process.argv[2]).catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
