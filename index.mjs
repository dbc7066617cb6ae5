// The ES module entry (`import … from 'versioned-hdf5'`): the CommonJS entry index.js,
// re-exported by name. Node cannot see the names of a CommonJS module that assigns
// `module.exports` at run time, so they are listed here; a test checks this list
// against index.js, so an export added to the binding cannot be missed here. Names
// starting with `_` are internal (the test build's hooks among them) and stay out.
import { createRequire } from 'node:module'

const binding = createRequire(import.meta.url)('./index.js')

export const {
  Attributes,
  Dataset,
  Group,
  StagedGroup,
  Version,
  VersionedFile,
  errorCodes,
  hdf5OpenObjects,
  hdf5Version,
} = binding

export default binding
