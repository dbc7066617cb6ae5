//! One long-lived thread for the work that makes libhdf5 allocate heavily: commits
//! (`StagedVersion::commit`), `VersionedFile::verify`, and the benchmark's commit
//! floor (`floor`, test builds only).
//!
//! libhdf5 holds tens of kilobytes per virtual mapping while it creates a virtual
//! dataset (selections copied several times over), so one commit of a dataset of
//! 40,000 chunks briefly needs about a gigabyte. glibc's malloc gives each thread
//! that allocates its own arena and keeps freed memory in it; when such work ran on
//! whichever thread called (Node.js's worker pool has four), each of them kept a
//! gigabyte of its own, and the process grew four times larger than one commit
//! needs. On one thread the same memory is reused from commit to commit, and it stays
//! warm: a commit over 10,000 chunks took 0.12 s here instead of 0.16–0.36 s. Reads
//! (the decoding of a version dataset's mappings included) run on the calling thread.
//!
//! Every call blocks its caller until the job is done: the file's lock serialises
//! this work anyway, so nothing runs less in parallel than before. Hashing and
//! compression inside a commit still fan out to the rayon pool. A job must be sent
//! while its caller holds no file lock (a queued commit may be waiting for that
//! lock): only the entry points named above send jobs. A panic in a job is caught
//! and returned as an `INTERNAL_ERROR` (an invariant of this library broke).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, sync_channel, Sender};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, ErrorKind, Result};

type Job = Box<dyn FnOnce() + Send>;

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

fn sender() -> Option<Sender<Job>> {
    static TX: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("vh5-hdf5".into())
            .spawn(move || {
                ON_WORKER.with(|w| w.set(true));
                while let Ok(job) = rx.recv() {
                    job();
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    })
    .as_ref()
    .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()).clone())
}

fn panicked(payload: Option<Box<dyn std::any::Any + Send>>) -> Error {
    let why = payload
        .and_then(|p| {
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
        })
        .unwrap_or_default();
    Error::new(
        ErrorKind::InternalError,
        format!("the operation failed on an internal error ({why}): close and reopen the file before writing again, and please report the steps that led to it"),
    )
}

/// Runs `f` on the worker thread and returns its result. Runs it right here when
/// called from the worker itself, or if the worker cannot be started. A panic in `f`
/// becomes an error.
pub(crate) fn run<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let guarded =
        move || catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(panicked(Some(p))));
    if ON_WORKER.with(|w| w.get()) {
        return guarded();
    }
    let Some(tx) = sender() else {
        return guarded();
    };
    let (done_tx, done_rx) = sync_channel::<Result<T>>(1);
    let job: Job = Box::new(move || {
        let _ = done_tx.send(guarded());
    });
    if let Err(back) = tx.send(job) {
        // The worker is gone (it never is while the process runs): run the job here.
        (back.0)();
    }
    done_rx.recv().unwrap_or_else(|_| Err(panicked(None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_job_is_an_internal_error() {
        let e = run::<()>(|| panic!("broken invariant")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InternalError);
        assert!(e.message.contains("broken invariant"), "{}", e.message);
        assert_eq!(run(|| Ok(7)).unwrap(), 7, "the worker lives on");
    }
}
