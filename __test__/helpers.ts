// Shared test helpers: temporary files and the independent reader (h5py, h5ls).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { Dataset, Group, StagedGroup, Version } from '../index.js'

const dir = mkdtempSync(join(tmpdir(), 'vh5-test-'))
let n = 0
// Each test file runs in its own process; its files go when it exits (set
// VH5_KEEP_TEST_FILES=1 to keep them for a look).
process.on('exit', () => {
  if (!process.env.VH5_KEEP_TEST_FILES) rmSync(dir, { recursive: true, force: true })
})

/** A fresh path for an HDF5 file. */
export function tmpFile(tag = 'f'): string {
  n += 1
  return join(dir, `${tag}-${process.pid}-${n}.h5`)
}

/** The system python with h5py (Debian's python3-h5py, installed by scripts/setup.sh). */
export const PYTHON = process.env.VH5_H5PY_PYTHON ?? '/usr/bin/python3'

/**
 * The interop oracle: the venv with Python versioned-hdf5 2.4.0 from PyPI that
 * scripts/setup.sh --test creates (.venv, pins in scripts/requirements-interop.txt).
 */
export const VENV_PYTHON = process.env.VH5_VENV_PYTHON ?? join(__dirname, '..', '.venv', 'bin', 'python')

/**
 * Runs a Python file or snippet (`-c`) with the versioned-hdf5 venv and returns its JSON
 * output. Fails loudly, never skips, when the venv is missing.
 */
export function vpy<T = unknown>(scriptOrCode: string, ...args: string[]): T {
  return vpyWith<T>(VENV_PYTHON, scriptOrCode, ...args)
}

/**
 * The second interop oracle: Python versioned-hdf5 2.6.0, the newest (.venv26, pins in
 * scripts/requirements-interop-26.txt), for the behaviours where 2.6 differs from 2.4.
 */
export const VENV26_PYTHON = process.env.VH5_VENV26_PYTHON ?? join(__dirname, '..', '.venv26', 'bin', 'python')

/** `vpy` with the venv whose python is `python`. */
export function vpyWith<T = unknown>(python: string, scriptOrCode: string, ...args: string[]): T {
  if (!existsSync(python)) {
    throw new Error(`the interop venv is missing (${python}): run 'bash scripts/setup.sh --test' (needs python3 -m venv and pypi.org)`)
  }
  const env = { ...process.env, HDF5_USE_FILE_LOCKING: 'FALSE', PYTHONWARNINGS: 'ignore' }
  const argv = scriptOrCode.endsWith('.py') ? [scriptOrCode, ...args] : ['-c', scriptOrCode, ...args]
  const out = execFileSync(python, argv, { encoding: 'utf8', maxBuffer: 512 << 20, env, stdio: ['ignore', 'pipe', 'pipe'] })
  return JSON.parse(out) as T
}

/** Runs a Python snippet with `path` as sys.argv[1] and returns its JSON output. */
export function py<T = unknown>(code: string, ...args: string[]): T {
  // The writer may still hold the file open: HDF5's whole-file lock would refuse the reader.
  const env = { ...process.env, HDF5_USE_FILE_LOCKING: 'FALSE' }
  const out = execFileSync(PYTHON, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 256 << 20, env })
  return JSON.parse(out) as T
}

/** `h5ls -r` of a file, one object path per line. */
export function h5ls(path: string): string[] {
  return execFileSync('h5ls', ['-r', path], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.trim().split(/\s+/)[0])
}

/** Number of rows of a dataset path's raw_data (via h5py). */
export function rawRows(path: string, ds: string): number {
  return py<number>(
    `import h5py, json, sys; f = h5py.File(sys.argv[1], 'r'); print(json.dumps(f['_version_data/' + sys.argv[2] + '/raw_data'].shape[0]))`,
    path,
    ds,
  )
}

export function ds(node: Version | Group | StagedGroup, path: string): Dataset {
  const d = node.get(path)
  if (!('dtype' in d)) throw new Error(`${path} is not a dataset`)
  return d as Dataset
}

/** Asserts `fn` throws (sync or async) an error whose code is `code`; returns it. */
export async function throwsCode(t: { is: (a: unknown, b: unknown, m?: string) => void; fail: (m: string) => void }, fn: () => unknown, code: string): Promise<Error & { code?: string }> {
  try {
    await fn()
  } catch (e) {
    const err = e as Error & { code?: string }
    t.is(err.code, code, err.message)
    return err
  }
  t.fail(`expected an error with code ${code}`)
  return new Error('unreachable')
}

/**
 * Sends every version dataset of two or more mappings, in this process and in the
 * processes it spawns with its environment, down the path that encodes the mapping
 * list in this library (docs/design/033), which the published build takes from 32
 * mappings on. A hook of the test build: the fault, crash and some interop specs call
 * it so that their sweeps meet both paths.
 */
export function ownListsFromTwoMappings(): void {
  process.env.VH5_OWN_LIST_MIN = '2'
}
