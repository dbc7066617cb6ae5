//! The format's floor for one commit: how long libhdf5 alone takes to create one
//! version dataset (a virtual dataset with one mapping per chunk) and flush it. The
//! benchmark harness (`bench/`) compares one-chunk commits against it.

use std::time::Instant;

use crate::dtype::Dtype;
use crate::error::Result;
use crate::h5::{self, FileOpen, Filters, Mapping};

/// Seconds libhdf5 takes to create, close and flush one 1-D float64 virtual dataset
/// of `n_chunks` mappings of `chunk_len` elements each, over a `raw_data` of as many
/// slots, in a new file at `path` (overwritten). Only the virtual dataset is timed.
/// Runs on the thread commits run on (`worker`), as a commit's own virtual dataset
/// would.
pub fn vds_floor(path: &str, n_chunks: u64, chunk_len: u64) -> Result<f64> {
    let path = path.to_string();
    crate::worker::run(move || floor_here(&path, n_chunks, chunk_len))
}

fn floor_here(path: &str, n_chunks: u64, chunk_len: u64) -> Result<f64> {
    let file = h5::file_open(path, FileOpen::Truncate)?;
    let g = h5::create_group(&file, "data")?;
    let fill = 0f64.to_le_bytes();
    let raw = h5::create_raw_data(
        &g,
        &Dtype::Float64,
        &[chunk_len],
        &fill,
        &Filters::default(),
    )?;
    let total = n_chunks * chunk_len;
    h5::ds_set_extent(&raw, &[total])?;
    drop(raw);
    h5::file_flush(&file)?;
    let mappings: Vec<Mapping> = (0..n_chunks)
        .map(|i| Mapping {
            vstart: vec![i * chunk_len],
            extent: vec![chunk_len],
            src_row: i * chunk_len,
        })
        .collect();
    let t = Instant::now();
    let vds = h5::create_version_dataset_by_libhdf5(
        &g,
        "version",
        &Dtype::Float64,
        &[total],
        &fill,
        "/data/raw_data",
        &[total],
        &mappings,
    )?;
    drop(vds);
    h5::file_flush(&file)?;
    Ok(t.elapsed().as_secs_f64())
}
