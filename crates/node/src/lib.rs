//! Node.js binding of versioned-hdf5 (napi-rs). Each method parses its arguments,
//! makes one call into the engine (`vh5`), and converts the result. Errors carry the
//! engine's stable `code`.

#[macro_use]
extern crate napi_derive;

mod attributes;
mod convert;
mod dataset;
mod staged;
mod version;
mod versioned_file;

use convert::OrJs;
use napi::Env;

/// Version of the libhdf5 this addon is linked with.
#[napi]
pub fn hdf5_version() -> String {
    vh5::hdf5_version()
}

/// Every error code this library throws, with what it means.
#[napi]
pub fn error_codes() -> Vec<String> {
    vh5::ErrorKind::ALL
        .iter()
        .map(|k| k.code().to_string())
        .collect()
}

/// Number of HDF5 objects (files, groups, datasets, types, attributes) open in this
/// process: stays flat across open/commit/close cycles (useful for leak checks).
#[napi]
pub fn hdf5_open_objects() -> i64 {
    vh5::hdf5_open_objects()
}

/// Seconds libhdf5 alone takes to create and flush one virtual dataset of `nChunks`
/// mappings of `chunkLen` float64 elements, in a new file at `path` (overwritten):
/// the format's floor for a commit, which the benchmark harness measures.
#[napi(js_name = "_benchVdsFloor")]
pub fn bench_vds_floor(env: Env, path: String, n_chunks: u32, chunk_len: u32) -> napi::Result<f64> {
    vh5::floor::vds_floor(&path, n_chunks as u64, chunk_len as u64).js(&env)
}
