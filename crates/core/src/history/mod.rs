//! History maintenance: what changed between versions ([`diff`]) and the rewrites of
//! history: deleting versions (`delete`) and compacting the file (`compact`).

mod compact;
mod delete;
pub mod diff;

pub use compact::{CompactStats, Progress};
pub use diff::{DatasetDiff, DiffOptions, DiffRegion, DiffStatus};
