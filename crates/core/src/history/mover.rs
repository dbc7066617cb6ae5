//! The slot moves of `delete_versions`, made on a second thread while libhdf5 goes on
//! with the rest of the rewrite (the survivors' virtual datasets, the deleted
//! versions' groups): their bytes are all that thread touches, and libhdf5 reads or
//! writes none of them until the rewrite sets `raw_data`'s new extent, after joining
//! it. Each move is saved in its slot of a block of the undo journal first
//! (`h5::journal::MoveBlock`), so a failure or a kill at any point rolls back as
//! before (docs/design/009-atomic-history-rewrites.md).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::h5::journal::{MoveBlock, MoveFault};
use crate::history::delete::for_each_run;

/// One slot move: the stored bytes of an unfiltered slot at file offset `src` go to
/// the slot at `dst`; for an edge chunk of extent `edge`, with the padding outside it
/// set to zero bytes (the caller checks that this is the fill value).
pub(crate) struct Move {
    pub(crate) src: u64,
    pub(crate) dst: u64,
    pub(crate) edge: Option<Vec<u64>>,
}

/// Why the moves did not all happen.
pub(crate) enum MoverError {
    /// A read or write failed (the transaction's fault, for the caller to record).
    Fault(MoveFault),
    /// The thread panicked (a bug): what it wrote is rolled back with the rest.
    Panicked,
}

/// How many movers started in this process (for tests).
static STARTED: AtomicU64 = AtomicU64::new(0);

/// How many times slot moves were handed to a [`Mover`] in this process.
pub fn movers_started() -> u64 {
    STARTED.load(Ordering::Relaxed)
}

/// Moves running on their own thread. Dropping it stops them and waits for the thread,
/// so that nothing writes once the caller rolls the transaction back.
pub(crate) struct Mover {
    cancel: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<(), MoveFault>>>,
    /// The outcome when the moves ran on the caller's thread (no thread could start).
    done: Option<Result<(), MoveFault>>,
}

impl Mover {
    /// Starts `moves` (slots of `full` extent, elements of `es` bytes) in `block`, in
    /// order: a slot may be the source of a move and the destination of a later one.
    pub(crate) fn start(block: MoveBlock, moves: Vec<Move>, full: Vec<u64>, es: usize) -> Mover {
        STARTED.fetch_add(1, Ordering::Relaxed);
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = cancel.clone();
        let job = Arc::new((block, moves, full));
        let on_thread = job.clone();
        let spawned = std::thread::Builder::new()
            .name("vh5-mover".into())
            .spawn(move || {
                let (block, moves, full) = &*on_thread;
                run(block, moves, full, es, &stop)
            });
        match spawned {
            Ok(handle) => Mover {
                cancel,
                handle: Some(handle),
                done: None,
            },
            Err(_) => {
                let (block, moves, full) = &*job;
                let done = run(block, moves, full, es, &cancel);
                Mover {
                    cancel,
                    handle: None,
                    done: Some(done),
                }
            }
        }
    }

    /// Waits for the moves to end (at once after the first call).
    pub(crate) fn wait(&mut self) -> Result<(), MoverError> {
        if let Some(h) = self.handle.take() {
            self.done = Some(match h.join() {
                Ok(r) => r,
                Err(_) => return Err(MoverError::Panicked),
            });
        }
        match self.done.take() {
            Some(Err(f)) => Err(MoverError::Fault(f)),
            _ => Ok(()),
        }
    }
}

impl Drop for Mover {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Makes the moves in order until one fails or `cancel` is set.
fn run(
    block: &MoveBlock,
    moves: &[Move],
    full: &[u64],
    es: usize,
    cancel: &AtomicBool,
) -> Result<(), MoveFault> {
    let slot = block.slot();
    let mut buf = vec![0u8; slot];
    let mut pad = Vec::new();
    let mut rec = Vec::new();
    for (i, m) in moves.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        block.read(m.src, &mut buf)?;
        let data: &[u8] = match &m.edge {
            None => &buf,
            Some(ext) => {
                pad.clear();
                pad.resize(slot, 0);
                for_each_run(ext, full, |_, d, n| {
                    pad[d * es..(d + n) * es].copy_from_slice(&buf[d * es..(d + n) * es]);
                });
                &pad
            }
        };
        block.write(i, m.dst, data, &mut rec)?;
    }
    Ok(())
}
