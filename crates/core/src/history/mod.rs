//! History maintenance: what changed between versions ([`diff`]) and the rewrites of
//! history: deleting versions (`delete`), changing a dataset's metadata in every
//! version (`metadata`) and compacting the file (`compact`).

mod compact;
mod delete;
pub mod diff;
mod metadata;

pub use compact::{CompactStats, Progress};
pub use diff::{DatasetDiff, DiffOptions, DiffRegion, DiffStatus};
pub use metadata::MetadataChange;
