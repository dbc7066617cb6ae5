//! The file format's names, in one place: the groups, datasets and attributes that
//! make a file a versioned-hdf5 file (data_version 4), the paths built from them, and
//! the rules for user paths inside a version.
//!
//! ```text
//! /_version_data/                      VERSION_DATA
//!     versions/                        VERSIONS; attrs current_version, data_version
//!         __first_version__/           FIRST_VERSION (the empty root of history)
//!         <version>/                   attrs prev_version, committed, timestamp
//!             <path>                   virtual dataset; attrs raw_data, chunks
//!     <path>/raw_data                  RAW_DATA: the chunk slots of <path>; attr chunks
//!     <path>/hash_table                HASH_TABLE: (hash, start, stop) rows; attr largest_index
//! ```

use crate::error::{bail, Result};

/// Name of the group that holds all versioning data.
pub const VERSION_DATA: &str = "_version_data";

/// Name of the empty root version.
pub const FIRST_VERSION: &str = "__first_version__";

/// The format generation this library writes.
pub const DATA_VERSION: i64 = 4;

/// Name of the group (inside [`VERSION_DATA`]) that holds one group per version.
pub const VERSIONS: &str = "versions";

/// Name of a data group's dataset of chunk slots.
pub const RAW_DATA: &str = "raw_data";

/// Name of a data group's dataset of `(hash, start, stop)` rows.
pub const HASH_TABLE: &str = "hash_table";

/// Bytes of one hash-table row in the file: the 32-byte hash, then `start` and
/// `stop` as little-endian int64.
pub const HASH_ROW_BYTES: usize = 48;

/// Rows per chunk of a hash table this library creates (Python's choice too).
pub const HASH_TABLE_CHUNK_ROWS: u64 = 4096;

/// Attribute names of the format.
pub mod attr {
    /// On `versions`: the name of the current version.
    pub const CURRENT_VERSION: &str = "current_version";
    /// On `versions`: the format generation (absent: 1).
    pub const DATA_VERSION: &str = "data_version";
    /// On a version group: its parent's name.
    pub const PREV_VERSION: &str = "prev_version";
    /// On a version group: whether its commit finished (`False` while it runs).
    pub const COMMITTED: &str = "committed";
    /// On a version group: its commit time, `YYYY-MM-DD HH:MM:SS.ffffff+0000`.
    pub const TIMESTAMP: &str = "timestamp";
    /// On a version dataset: the path of the `raw_data` it maps.
    pub const RAW_DATA: &str = "raw_data";
    /// On a version dataset and on `raw_data`: the chunk shape.
    pub const CHUNKS: &str = "chunks";
    /// On `hash_table`: how many rows (and slots) are in use; the table's commit
    /// marker, written after the rows.
    pub const LARGEST_INDEX: &str = "largest_index";
    /// On `hash_table`, an extension of this library (Python ignores it): the storage
    /// check's mark, int64 `[first row, end row, raw_data rows, largest_index, end of
    /// allocation]` of the furthest `raw_data` rows any version maps, as the last
    /// commit here left the file (docs/design/013-deep-histories.md).
    pub const STORAGE_MARK: &str = "storage_mark";
}

/// Absolute HDF5 path of the group of versions.
pub(crate) fn versions_path() -> String {
    format!("/{VERSION_DATA}/{VERSIONS}")
}

/// Absolute HDF5 path of a dataset path's data group.
pub(crate) fn data_group_path(ds_path: &str) -> String {
    format!("/{VERSION_DATA}/{ds_path}")
}

/// Absolute HDF5 path of a dataset path's `raw_data`.
pub(crate) fn raw_data_path(ds_path: &str) -> String {
    format!("/{VERSION_DATA}/{ds_path}/{RAW_DATA}")
}

/// The dataset path whose `raw_data` is at `raw_path` ([`raw_data_path`]'s inverse).
pub(crate) fn raw_data_owner(raw_path: &str) -> Option<&str> {
    raw_path
        .strip_prefix('/')?
        .strip_prefix(VERSION_DATA)?
        .strip_prefix('/')?
        .strip_suffix(RAW_DATA)?
        .strip_suffix('/')
}

/// Absolute HDF5 path of a dataset path's `hash_table`.
pub(crate) fn hash_table_path(ds_path: &str) -> String {
    format!("/{VERSION_DATA}/{ds_path}/{HASH_TABLE}")
}

/// Absolute HDF5 path of a version group.
pub(crate) fn version_group_path(name: &str) -> String {
    format!("/{VERSION_DATA}/{VERSIONS}/{name}")
}

/// Resolves a path given relative to a version, or absolute inside the file
/// (`/_version_data/versions/<version>/a/b`), to a path relative to `version`.
/// `None` when an absolute path points outside the version.
pub fn version_relative(version: &str, p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return Some(p.to_string());
    }
    let root = version_group_path(version);
    let rest = p.strip_prefix(&root)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest.to_string())
    } else {
        None
    }
}

/// Normalises a user path inside a version: strips slashes at both ends, refuses
/// empty components, `.` and `..`.
pub fn normalize_path(p: &str) -> Result<String> {
    normalized(p).map(str::to_string)
}

/// [`normalize_path`] without allocating: the normalised path is a part of `p`.
pub(crate) fn normalized(p: &str) -> Result<&str> {
    let t = p.trim_matches('/');
    if t.is_empty() {
        return Ok("");
    }
    for part in t.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            bail!(
                InvalidArgument,
                "invalid path '{p}': use names separated by single '/'"
            );
        }
    }
    Ok(t)
}
