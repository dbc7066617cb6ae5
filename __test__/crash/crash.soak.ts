// Soak run kept out of `npm test` (npm run soak:crash): many more random SIGKILLs than
// crash.spec.ts. VH5_CRASH_KILLS sets the number (default 100), VH5_CRASH_SEED the seed.
import test from 'ava'
import { randomKills } from './kills.js'

const KILLS = Number(process.env.VH5_CRASH_KILLS ?? 100)

test.serial(`SIGKILL at random moments (${KILLS} kills): no reported version is ever lost, the file stays sound, writing goes on`, async (t) => {
  await randomKills(t, KILLS)
})
