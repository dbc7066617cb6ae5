// Soak runs kept out of `npm test`: crash safety under SIGKILL (npm run soak:crash).
export default {
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  files: ['__test__/crash/*.soak.ts'],
  timeout: '60m',
  workerThreads: false,
}
