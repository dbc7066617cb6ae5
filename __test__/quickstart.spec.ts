import test from 'ava'

import { quickstart } from '../examples/quickstart.js'
import { tmpFile } from './helpers.js'

test('the README quick start runs and returns the latest prices', async (t) => {
  const latest = await quickstart(tmpFile('quickstart'))
  t.deepEqual(Array.from(latest), [10, 11.5, 12.5, 13, 14, 15])
})
