// Types of the ES module entry (index.mjs): those of the CommonJS entry, by name, plus
// the whole module as the default export.
import * as binding from './index.js'

export * from './index.js'
export default binding
