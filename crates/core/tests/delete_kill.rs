//! A kill at any point of a `delete_versions` whose slot moves run on their own
//! thread (into a block of the undo journal laid out ahead of them): every prefix of
//! the writes it made, to the file and to its journal, in the order they were made,
//! is recovered to the file as it was before, byte for byte, or opens as the file
//! after. Needs the `test-hooks` feature (the trace); without it this file is empty.
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
use vh5::{CreateOptions, Dtype, Mode, StageOptions, Values, VersionedFile};

/// Every version's `x`, as read from the file at `path`.
fn contents(path: &str) -> Vec<(String, Values)> {
    let vf = VersionedFile::open(path, Mode::Read).unwrap();
    let out = vf
        .versions()
        .unwrap()
        .into_iter()
        .map(|v| {
            let x = vf.read(&v, "x", &[]).unwrap().0;
            (v, x)
        })
        .collect();
    vf.close().unwrap();
    out
}

#[test]
fn a_delete_killed_anywhere_inside_its_slot_moves_rolls_back_or_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moves.h5");
    let p = path.to_str().unwrap();
    // 205 float64 in chunks of 10 (an edge chunk). Each version after the first
    // writes whole chunks; c and e write again the chunk b and d wrote, so deleting b
    // and d frees their slots and every later slot moves down.
    let vf = VersionedFile::open(p, Mode::Truncate).unwrap();
    let history: [(&str, &[i64]); 7] = [
        ("a", &[]),
        ("b", &[3]),
        ("c", &[3, 7]),
        ("d", &[12]),
        ("e", &[12, 18]),
        ("f", &[20]),
        ("g", &[1]),
    ];
    for (i, (name, chunks)) in history.into_iter().enumerate() {
        let s = vf.stage(name, StageOptions::default()).unwrap();
        if i == 0 {
            let data: Vec<f64> = (0..205).map(f64::from).collect();
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
        }
        for &c in chunks {
            let at = c * 10;
            let n = if c == 20 { 5 } else { 10 };
            let v = 1000.0 * i as f64 + c as f64;
            s.write("x", &slice(at, at + n), &f64s(&vec![v; n as usize]))
                .unwrap();
        }
        s.commit().unwrap();
    }
    vf.close().unwrap();
    let before = contents(p);
    let pre = std::fs::read(&path).unwrap();

    io_trace::start(&path);
    let vf = VersionedFile::open(p, Mode::Append).unwrap();
    let movers = vh5::history::movers_started();
    vf.delete_versions(&["b".to_string(), "d".to_string()])
        .unwrap();
    assert!(
        vh5::history::movers_started() > movers,
        "the slot moves ran on their own thread"
    );
    vf.close().unwrap();
    let ops = io_trace::stop();
    let after = contents(p);
    assert_eq!(after.len(), 5);
    for (v, x) in &after {
        let was = before.iter().find(|(b, _)| b == v).unwrap();
        assert_eq!(&was.1, x, "{v} reads as before the delete");
    }

    // The commit point: the journal emptied after the transaction's records.
    let commit = ops
        .iter()
        .position(|o| *o == Op::SetLen(Target::Journal, 0))
        .expect("the delete ended in a checkpoint");
    let crash = dir.path().join("crash.h5");
    let c = crash.to_str().unwrap();
    let jpath = dir.path().join("crash.h5.vh5-journal");
    let (mut rolled_back, mut done) = (0, 0);
    for k in 0..=ops.len() {
        let mut file = pre.clone();
        let mut journal = Vec::new();
        let mut exists = false;
        for op in &ops[..k] {
            match op {
                Op::Write(Target::File, ..) | Op::SetLen(Target::File, _) => apply(&mut file, op),
                Op::Write(Target::Journal, ..) | Op::SetLen(Target::Journal, _) => {
                    apply(&mut journal, op)
                }
                Op::CreateJournal => exists = true,
                Op::RemoveJournal => exists = false,
                _ => {}
            }
        }
        std::fs::write(&crash, &file).unwrap();
        let _ = std::fs::remove_file(&jpath);
        if exists {
            std::fs::write(&jpath, &journal).unwrap();
        }
        io_trace::recover(&crash).unwrap();
        if k <= commit {
            assert_eq!(
                std::fs::read(&crash).unwrap(),
                pre,
                "killed before write {k} of {}: rolled back to the exact bytes",
                ops.len()
            );
            rolled_back += 1;
        } else {
            assert_eq!(
                contents(c),
                after,
                "killed before write {k}: the delete done"
            );
            done += 1;
        }
    }
    // The block's records and the moves they cover are among the writes swept.
    let block_writes = ops
        .iter()
        .take(commit)
        .filter(|o| matches!(o, Op::Write(Target::Journal, _, b) if b.len() == 24 + 80))
        .count();
    assert!(
        block_writes >= 2,
        "{block_writes} slot records in the block"
    );
    assert!(
        rolled_back > 10 && done >= 1,
        "{rolled_back} rolled back, {done} done"
    );
}
