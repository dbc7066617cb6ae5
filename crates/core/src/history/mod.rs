//! History maintenance: what changed between versions ([`diff`]) and the rewrites of
//! history: deleting versions (`delete`), changing a dataset's metadata in every
//! version (`metadata`) and compacting the file (`compact`).

mod compact;
mod delete;
pub mod diff;
mod metadata;
mod mover;

pub use mover::movers_started;

pub use compact::CompactStats;
pub use diff::{DatasetDiff, DiffOptions, DiffRegion, DiffStatus};
pub use metadata::MetadataChange;

/// Progress of a long call (`compact`, `delete_versions`, `verify`): called on the
/// worker thread with the steps done so far and the steps in all.
pub type Progress = Box<dyn Fn(u64, u64) + Send + Sync>;

/// Counts the steps of a long call and reports each to its [`Progress`], if any.
pub(crate) struct Ticker<'a> {
    progress: Option<&'a Progress>,
    done: u64,
    total: u64,
}

impl<'a> Ticker<'a> {
    /// A count of `total` steps (more may be added with [`Ticker::grow`]).
    pub(crate) fn new(progress: Option<&'a Progress>, total: u64) -> Self {
        Ticker {
            progress,
            done: 0,
            total,
        }
    }

    /// Adds `n` steps to the total.
    pub(crate) fn grow(&mut self, n: u64) {
        self.total += n;
    }

    /// One step done.
    pub(crate) fn tick(&mut self) {
        self.done += 1;
        self.total = self.total.max(self.done);
        if let Some(p) = self.progress {
            p(self.done, self.total);
        }
    }

    /// Every step done (steps skipped, e.g. of data that could not be checked, count
    /// as done).
    pub(crate) fn finish(&mut self) {
        if self.done < self.total {
            self.done = self.total;
            if let Some(p) = self.progress {
                p(self.done, self.total);
            }
        }
    }
}
