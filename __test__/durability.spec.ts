// The `durability` option of open(): 'process' (the default) and 'fsync' commit,
// read and reopen alike; anything else is INVALID_ARGUMENT. What 'fsync' buys (power
// loss) is proved in crates/core/tests/power_loss.rs; here only the surface. Under 1 s.
import test from 'ava'
import { existsSync } from 'node:fs'

import { VersionedFile } from '../index.js'
import { tmpFile } from './helpers.js'

test("durability 'fsync' and 'process' commit the same; the default is 'process'", async (t) => {
  for (const durability of ['fsync', 'process', undefined] as const) {
    const path = tmpFile('durable')
    const vf = VersionedFile.open(path, { mode: 'w', durability })
    t.is(vf.durability, durability ?? 'process')
    for (let i = 0; i < 3; i++) {
      await vf.stageVersion(`v${i}`, (g) => {
        if (i === 0) g.createDataset('x', { data: new Float64Array(10), chunks: [4] })
        else g.dataset('x').write([[i, i + 1]], new Float64Array([i]))
      })
    }
    vf.setCurrentVersion('v1')
    vf.close()
    t.false(existsSync(`${path}.vh5-journal`))
    const r = VersionedFile.open(path, { mode: 'r', durability })
    t.deepEqual(r.versions, ['v0', 'v1', 'v2'])
    t.is(r.currentVersion, 'v1')
    t.deepEqual(Array.from(r.version('v2').dataset('x').readSync() as Float64Array), [0, 1, 2, 0, 0, 0, 0, 0, 0, 0])
    t.deepEqual(r.verifySync().problems, [])
    r.close()
  }
})

test('an unknown durability is INVALID_ARGUMENT and names the choices', (t) => {
  const path = tmpFile('durable')
  for (const durability of ['sync', 1, true]) {
    const e = t.throws(() => VersionedFile.open(path, { mode: 'w', durability } as never)) as Error & { code?: string }
    t.is(e.code, 'INVALID_ARGUMENT', e.message)
    t.true(e.message.includes("'fsync'"), e.message)
  }
  t.false(existsSync(path))
})
