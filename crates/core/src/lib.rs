//! Engine of versioned-hdf5 for Node.js: every version of a tree of n-dimensional
//! datasets in one HDF5 file, in the on-disk format of the Python library
//! versioned-hdf5 (data_version 4).
//!
//! The model: a file holds named, immutable versions, each a tree of groups and
//! datasets. A dataset's data lives once per dataset path in `raw_data`, as
//! content-addressed chunk slots (deduplicated by hash); each version's dataset is an
//! HDF5 virtual dataset with one mapping per stored chunk. [`VersionedFile::stage`]
//! opens a [`StagedVersion`] over a parent; its writes stay in memory until
//! [`StagedVersion::commit`].
//!
//! This crate has no Node.js dependency; `crates/node` binds it.

#![warn(unreachable_pub)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "a failing unit test panics with what it found"
    )
)]

pub mod attrs;
pub mod buf;
mod cache;
pub mod codec;
mod dedup;
pub mod dtype;
pub mod error;
pub mod file;
#[cfg(feature = "test-hooks")]
pub mod floor;
pub mod grid;
mod h5;
pub mod hash;
pub mod history;
pub mod host;
pub mod layout;
pub mod stage;
pub mod stats;
pub mod strings;
pub mod time;
pub mod values;
pub mod verify;
pub mod view;
mod worker;

pub use attrs::{AttrValue, Attrs};
pub use buf::{AlignedBytes, ReadData};
pub use cache::DEFAULT_READ_CACHE_BYTES;
pub use dtype::{f16_bits_from_f64, Compound, Dtype, Field};
pub use error::{Error, ErrorKind, Result};
pub use file::{
    CatalogStats, ChunkMap, DatasetMeta, Durability, Mode, Node, ReadSink, VersionInfo,
    VersionedFile, DEFAULT_CATALOG_BYTES,
};
pub use grid::AxisSel;
pub use h5::{Compression, Filters};
pub use hash::HashKind;
pub use history::{
    CompactStats, DatasetDiff, DiffOptions, DiffRegion, DiffStatus, MetadataChange, Progress,
};
pub use stage::{CreateOptions, SharedBytes, StageOptions, StagedNode, StagedVersion};
pub use stats::{DatasetStorage, StorageStats};
pub use strings::Values;
pub use values::{Column, Decoded, Scalar};
pub use verify::{Problem, Report};
pub use view::View;

/// What the journal file driver did to one file (test builds only): the trace the
/// power-loss crash-state tests replay.
#[cfg(feature = "test-hooks")]
pub use h5::journal::trace as io_trace;

/// Number of HDF5 objects open in this process (for leak checks).
pub fn hdf5_open_objects() -> i64 {
    h5::open_object_count()
}

/// Version of the linked libhdf5, as `major.minor.release`.
pub fn hdf5_version() -> String {
    let v = hdf5::library_version();
    format!("{}.{}.{}", v.0, v.1, v.2)
}
