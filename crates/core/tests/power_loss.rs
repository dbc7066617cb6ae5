//! Power loss: the states a crash of the machine may leave, replayed from a trace of
//! what the journal file driver did during real commits, and the recovery of each.
//! Needs the `test-hooks` feature (the trace); without it this file is empty.
//!
//! The model of the disk: each file (the HDF5 file, its journal) keeps, after an
//! fsync of it, everything written to it before that fsync. Of what was written since
//! its last fsync, any subset may have reached the disk, in any order, each write cut
//! into 512-byte sectors that land or not independently (a torn write). The journal's
//! directory entry (its creation and removal) is kept only after an fsync of the
//! directory. A state is built from the bytes of the file before the trace began.
#![cfg(feature = "test-hooks")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test panics with what it found"
)]

mod common;
use common::*;
use vh5::io_trace::{self, Op, Target};
use vh5::{AttrValue, CreateOptions, Dtype, Durability, Mode, StageOptions, VersionedFile};

const SECTOR: u64 = 512;
/// States sampled at each crash point (besides "nothing pending landed" and
/// "everything landed").
const SAMPLES: usize = 6;

/// A small deterministic generator (SplitMix64), so every run checks the same states.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

/// What a traced run left: the file before the trace, the trace, and the file as each
/// returned operation left it (index 0: before the trace; index i: after the i-th
/// mark).
struct Run {
    pre: Vec<u8>,
    ops: Vec<Op>,
    states: Vec<Vec<u8>>,
}

/// Three commits touching a chunked dataset, a new nested dataset, a resize and
/// attributes, then a close, on a file opened with `durability`; traced.
fn traced_run(dir: &std::path::Path, durability: Durability) -> Run {
    // One trace at a time in the process: the tests of this file take turns.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = dir.join("traced.h5");
    let p = path.to_str().unwrap();
    let vf = VersionedFile::open(p, Mode::Truncate).unwrap();
    let s = vf.stage("v0", StageOptions::default()).unwrap();
    let data: Vec<f64> = (0..100).map(f64::from).collect();
    s.create_dataset(
        "x",
        CreateOptions {
            data: Some(f64s(&data)),
            chunks: Some(vec![10]),
            dtype: Some(Dtype::Float64),
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    vf.close().unwrap();
    let pre = std::fs::read(&path).unwrap();

    io_trace::start(&path);
    let vf = VersionedFile::open_with(p, Mode::Append, durability).unwrap();
    let mut states = vec![pre.clone()];
    for i in 1..=3u32 {
        let s = vf.stage(&format!("v{i}"), StageOptions::default()).unwrap();
        let at = i64::from(i) * 7;
        s.write("x", &slice(at, at + 5), &f64s(&[f64::from(i); 5]))
            .unwrap();
        s.set_attr("x", "round", AttrValue::Int(i64::from(i)))
            .unwrap();
        if i == 2 {
            s.create_dataset(
                "g/h/y",
                CreateOptions {
                    data: Some(f64s(&[1.5; 30])),
                    chunks: Some(vec![8]),
                    dtype: Some(Dtype::Float64),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        if i == 3 {
            s.resize("x", &[120]).unwrap();
        }
        s.commit().unwrap();
        io_trace::mark();
        states.push(std::fs::read(&path).unwrap());
    }
    vf.close().unwrap();
    io_trace::mark();
    states.push(std::fs::read(&path).unwrap());
    let ops = io_trace::stop();
    Run { pre, ops, states }
}

fn target(op: &Op) -> Option<Target> {
    match op {
        Op::Write(t, ..) | Op::SetLen(t, _) => Some(*t),
        _ => None,
    }
}

/// `op` cut at sector boundaries (a write), or whole (a cut).
fn pieces(op: &Op) -> Vec<Op> {
    match op {
        Op::Write(t, at, bytes) => {
            let mut out = Vec::new();
            let mut s = *at;
            let end = at + bytes.len() as u64;
            while s < end {
                let e = ((s / SECTOR) + 1) * SECTOR;
                let e = e.min(end);
                out.push(Op::Write(
                    *t,
                    s,
                    bytes[(s - at) as usize..(e - at) as usize].to_vec(),
                ));
                s = e;
            }
            out
        }
        other => vec![other.clone()],
    }
}

/// The file and the journal (`None`: no directory entry) a power loss after the first
/// `k` operations may leave; `p_file` and `p_journal` are the chances that a pending
/// sector of each lands.
fn crash_state(
    run: &Run,
    k: usize,
    p_file: f64,
    p_journal: f64,
    rng: &mut Rng,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let ops = &run.ops[..k];
    let last = |f: &dyn Fn(&Op) -> bool| ops.iter().rposition(f);
    let barrier_file = last(&|o| *o == Op::Sync(Target::File));
    let barrier_journal = last(&|o| *o == Op::Sync(Target::Journal));
    let barrier_dir = last(&|o| *o == Op::SyncDir);
    let mut file = run.pre.clone();
    let mut journal = Vec::new();
    let mut pending = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Some(t) = target(op) else { continue };
        let barrier = match t {
            Target::File => barrier_file,
            Target::Journal => barrier_journal,
        };
        if barrier.is_some_and(|b| i < b) {
            match t {
                Target::File => apply(&mut file, op),
                Target::Journal => apply(&mut journal, op),
            }
        } else {
            let p = match t {
                Target::File => p_file,
                Target::Journal => p_journal,
            };
            pending.extend(pieces(op).into_iter().filter(|_| rng.chance(p)));
        }
    }
    // What landed lands in any order.
    for i in (1..pending.len()).rev() {
        pending.swap(i, rng.below(i + 1));
    }
    for op in &pending {
        match target(op) {
            Some(Target::File) => apply(&mut file, op),
            Some(Target::Journal) => apply(&mut journal, op),
            None => {}
        }
    }
    // The journal's directory entry: as of the last directory sync, or, if a creation
    // or removal came after it, either way.
    let exists_after = |upto: usize| {
        ops[..upto].iter().fold(false, |e, o| match o {
            Op::CreateJournal => true,
            Op::RemoveJournal => false,
            _ => e,
        })
    };
    let durable = exists_after(barrier_dir.map_or(0, |b| b + 1));
    let latest = exists_after(k);
    let exists = if durable == latest {
        durable
    } else if rng.chance(0.5) {
        latest
    } else {
        durable
    };
    (file, exists.then_some(journal))
}

#[derive(Default, Debug)]
struct Tally {
    states: usize,
    /// Recovered to a committed state no older than the last returned commit.
    good: usize,
    /// Recovered to a committed state older than the last returned commit.
    lost_commit: usize,
    /// Recovered (or failed to open) to bytes that are no committed state.
    not_committed: usize,
}

/// Replays crash states of `run` (every crash point, `SAMPLES` random states each,
/// plus the two extremes) into `dir`, opens each (which runs recovery) and compares
/// the file with the committed states.
fn check_states(run: &Run, dir: &std::path::Path, seed: u64) -> Tally {
    let mut rng = Rng(seed);
    let path = dir.join("crash.h5");
    let p = path.to_str().unwrap().to_string();
    let jpath = dir.join("crash.h5.vh5-journal");
    let chances = [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0];
    let mut tally = Tally::default();
    for k in 0..=run.ops.len() {
        let returned = run.ops[..k].iter().filter(|o| **o == Op::Mark).count();
        let mut cases = vec![(0.0, 0.0), (1.0, 1.0)];
        for _ in 0..SAMPLES {
            cases.push((
                chances[rng.below(chances.len())],
                chances[rng.below(chances.len())],
            ));
        }
        for (pf, pj) in cases {
            let (file, journal) = crash_state(run, k, pf, pj, &mut rng);
            std::fs::write(&path, &file).unwrap();
            match &journal {
                Some(j) => std::fs::write(&jpath, j).unwrap(),
                None => {
                    let _ = std::fs::remove_file(&jpath);
                }
            }
            // The recovery an open runs first; the open follows where recovery gave a
            // committed state. A state it did not repair is a damaged HDF5 file, which
            // is not opened: libhdf5 may spin on damaged metadata.
            let recovered = io_trace::recover(&path);
            let after = std::fs::read(&path).unwrap();
            tally.states += 1;
            let matches = |j: usize| run.states.get(j).is_some_and(|s| *s == after);
            if recovered.is_ok() && (matches(returned) || matches(returned + 1)) {
                let vf = VersionedFile::open(&p, Mode::Read).unwrap();
                assert!(
                    vf.versions().unwrap().len() > returned.min(3),
                    "the returned versions are listed"
                );
                vf.close().unwrap();
                tally.good += 1;
            } else if (0..returned).any(matches) {
                tally.lost_commit += 1;
            } else {
                tally.not_committed += 1;
            }
        }
    }
    let _ = std::fs::remove_file(&jpath);
    tally
}

fn scratch_dir() -> tempfile::TempDir {
    // tmpfs where there is one: the states are many small files.
    match std::path::Path::new("/dev/shm").is_dir() {
        true => tempfile::tempdir_in("/dev/shm").unwrap(),
        false => tempfile::tempdir().unwrap(),
    }
}

/// The trace is complete: replaying all of it in order gives each returned state.
fn check_trace(run: &Run) {
    let mut file = run.pre.clone();
    let mut marks = 0;
    for op in &run.ops {
        match op {
            Op::Mark => {
                marks += 1;
                assert!(
                    file == run.states[marks],
                    "the trace replayed to mark {marks} differs from the file"
                );
            }
            op if target(op) == Some(Target::File) => apply(&mut file, op),
            _ => {}
        }
    }
    assert_eq!(marks, run.states.len() - 1);
}

#[test]
fn fsync_durability_survives_every_sampled_power_loss() {
    let dir = scratch_dir();
    let run = traced_run(dir.path(), Durability::Fsync);
    check_trace(&run);
    let count = |f: &dyn Fn(&Op) -> bool| run.ops.iter().filter(|o| f(o)).count();
    let syncs = count(&|o| matches!(o, Op::Sync(_) | Op::SyncDir));
    let t = check_states(&run, dir.path(), 0x5EED_0001);
    println!(
        "fsync: {} operations traced ({} fsyncs, 3 commits and a close); {} crash states checked: {} recovered to a committed state with every returned commit, {} lost a returned commit, {} were no committed state",
        run.ops.len(),
        syncs,
        t.states,
        t.good,
        t.lost_commit,
        t.not_committed
    );
    assert!(t.states > 1000, "{t:?}");
    assert_eq!(t.good, t.states, "{t:?}");
}

#[test]
fn process_durability_can_lose_a_returned_commit_on_power_loss() {
    let dir = scratch_dir();
    let run = traced_run(dir.path(), Durability::Process);
    check_trace(&run);
    assert!(
        !run.ops
            .iter()
            .any(|o| matches!(o, Op::Sync(_) | Op::SyncDir)),
        "the default mode syncs nothing on the commit path"
    );
    let t = check_states(&run, dir.path(), 0x5EED_0001);
    println!(
        "process: {} operations traced; {} crash states checked: {} recovered to a committed state with every returned commit, {} lost a returned commit, {} were no committed state",
        run.ops.len(),
        t.states,
        t.good,
        t.lost_commit,
        t.not_committed
    );
    // The point of 'fsync': without it the same generator finds both kinds of loss.
    assert!(t.lost_commit > 0, "{t:?}");
    assert!(t.not_committed > 0, "{t:?}");
}
