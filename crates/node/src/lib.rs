//! Node.js binding of versioned-hdf5 (napi-rs). Each method parses its arguments,
//! makes one call into the engine (`vh5`), and converts the result; the engine owns
//! the semantics (value encoding, defaults, selections: `vh5::values`, `vh5::host`).
//! Every call runs behind [`guard::guard`]: errors carry the engine's stable `code`,
//! argument conversions that fail are `INVALID_ARGUMENT`, and a panic is caught as
//! `INTERNAL_ERROR`. One file per JS class, each Rust struct named as its class.

#[macro_use]
extern crate napi_derive;

mod attributes;
mod convert;
mod dataset;
mod guard;
mod history;
mod staged;
mod stats;
mod version;
mod versioned_file;

use guard::guard;
use napi::Env;

/// Version of the libhdf5 this addon is linked with.
#[napi]
pub fn hdf5_version(env: &Env) -> napi::Result<String> {
    guard(env, || Ok(vh5::hdf5_version()))
}

/// Every error code this library throws (the `ErrorCode` type lists them).
#[napi]
pub fn error_codes(env: &Env) -> napi::Result<Vec<String>> {
    guard(env, || {
        Ok(vh5::ErrorKind::ALL
            .iter()
            .map(|k| k.code().to_string())
            .collect())
    })
}

/// Number of HDF5 objects (files, groups, datasets, types, attributes) open in this
/// process: stays flat across open/commit/close cycles (useful for leak checks).
#[napi]
pub fn hdf5_open_objects(env: &Env) -> napi::Result<i64> {
    guard(env, || Ok(vh5::hdf5_open_objects()))
}

/// Seconds libhdf5 alone takes to create and flush one virtual dataset of `nChunks`
/// mappings of `chunkLen` float64 elements, in a new file at `path` (overwritten):
/// the format's floor for a commit, which the benchmark harness measures. Test builds
/// only (feature `test-hooks`); not part of the public typings.
#[cfg(feature = "test-hooks")]
#[napi(js_name = "_benchVdsFloor", skip_typescript)]
pub fn bench_vds_floor(
    env: &Env,
    path: String,
    n_chunks: u32,
    chunk_len: u32,
) -> napi::Result<f64> {
    guard(env, || {
        Ok(vh5::floor::vds_floor(
            &path,
            n_chunks as u64,
            chunk_len as u64,
        )?)
    })
}

/// How many times `deleteVersions` moved slots on a thread of its own
/// (`vh5::history::movers_started`). Test builds only (feature `test-hooks`); not part
/// of the public typings.
#[cfg(feature = "test-hooks")]
#[napi(js_name = "_slotMoversForTest", skip_typescript)]
pub fn slot_movers_for_test() -> f64 {
    vh5::history::movers_started() as f64
}

/// How many large read results reused the memory of collected ones
/// (`vh5::buf::recycle`). Test builds only (feature `test-hooks`); not part of the
/// public typings.
#[cfg(feature = "test-hooks")]
#[napi(js_name = "_recycledReusesForTest", skip_typescript)]
pub fn recycled_reuses_for_test() -> f64 {
    vh5::buf::recycled_reuses() as f64
}

/// Holds `file`'s lock, with a read-only handle's lock on the file, for `ms`
/// milliseconds on the calling thread, as a long read would (the stopped-reader test).
/// Test builds only (feature `test-hooks`); not part of the public typings.
#[cfg(feature = "test-hooks")]
#[napi(js_name = "_holdReaderLockForTest", skip_typescript)]
pub fn hold_reader_lock_for_test(
    env: &Env,
    file: &versioned_file::VersionedFile,
    ms: u32,
) -> napi::Result<()> {
    guard(env, || {
        Ok(file.inner.hold_reader_lock_for_test(ms as u64)?)
    })
}

/// How often `file`'s storage check scanned every version's mappings of a path
/// because no storage mark could be trusted (docs/design/013-deep-histories.md).
/// Test builds only (feature `test-hooks`); not part of the public typings.
#[cfg(feature = "test-hooks")]
#[napi(js_name = "_storageScansForTest", skip_typescript)]
pub fn storage_scans_for_test(
    env: &Env,
    file: &versioned_file::VersionedFile,
) -> napi::Result<f64> {
    guard(env, || Ok(file.inner.storage_scans_for_test() as f64))
}

/// Whether `file`'s open took its versions from the version index file
/// (docs/design/013-deep-histories.md). Test builds only (feature `test-hooks`); not
/// part of the public typings.
#[cfg(feature = "test-hooks")]
#[napi(js_name = "_openedFromIndexForTest", skip_typescript)]
pub fn opened_from_index_for_test(
    env: &Env,
    file: &versioned_file::VersionedFile,
) -> napi::Result<bool> {
    guard(env, || Ok(file.inner.opened_from_index_for_test()))
}

/// Panics inside the guard (test builds only, feature `test-hooks`): the panic test
/// checks that it reaches JS as an `INTERNAL_ERROR`, synchronously or, with
/// `inTask`, from a task on the thread pool (a rejected promise).
#[cfg(feature = "test-hooks")]
#[napi(js_name = "_panicForTest", skip_typescript)]
pub fn panic_for_test(
    env: &Env,
    in_task: Option<bool>,
) -> napi::Result<Option<napi::bindgen_prelude::AsyncTask<PanicTask>>> {
    guard(env, || {
        if in_task.unwrap_or(false) {
            return Ok(Some(napi::bindgen_prelude::AsyncTask::new(PanicTask)));
        }
        #[allow(clippy::panic, reason = "the hook exists to panic")]
        {
            panic!("a panic on purpose, from _panicForTest")
        }
    })
}

/// A task whose `compute` panics (see `_panicForTest`).
#[cfg(feature = "test-hooks")]
pub struct PanicTask;

#[cfg(feature = "test-hooks")]
impl napi::Task for PanicTask {
    type Output = vh5::Result<()>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        #[allow(clippy::panic, reason = "the hook exists to panic")]
        Ok(guard::guard_engine(|| {
            panic!("a panic on purpose, from _panicForTest's task")
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        guard(&env, || Ok(output?))
    }
}
