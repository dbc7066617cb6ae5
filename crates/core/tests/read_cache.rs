//! The read cache of decoded chunks: reads stay right whatever it holds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test panics with what it found"
)]

mod common;
use common::*;

use vh5::{AxisSel, CreateOptions, Dtype, Mode, ReadData, StageOptions, Values, VersionedFile};

fn read(vf: &VersionedFile, v: &str, sel: &[AxisSel]) -> Vec<f64> {
    to_f64(&vf.read(v, "x", sel).unwrap().0)
}

/// Writes `n` versions of `x` (chunks of 10), each appending 7 values and changing a
/// few; returns each version's contents.
fn history(vf: &VersionedFile, n: usize) -> Vec<Vec<f64>> {
    let mut cur: Vec<f64> = (0..25).map(f64::from).collect();
    let mut all = Vec::new();
    for v in 0..n {
        let s = vf.stage(&format!("v{v}"), StageOptions::default()).unwrap();
        if v == 0 {
            s.create_dataset(
                "x",
                CreateOptions {
                    data: Some(f64s(&cur)),
                    chunks: Some(vec![10]),
                    dtype: Some(Dtype::Float64),
                    ..Default::default()
                },
            )
            .unwrap();
        } else {
            // Reading the parent through the stage fills the cache with its chunks.
            let staged = s.read("x", &[]).unwrap().0;
            assert_eq!(to_f64(&staged), cur, "staged read of v{v}'s parent");
            let old = cur.len() as u64;
            cur.extend((0..7).map(|i| (v * 100 + i) as f64));
            let at = (v * 13) % cur.len();
            cur[at] = -(v as f64);
            s.resize("x", &[cur.len() as u64]).unwrap();
            s.write("x", &[], &f64s(&cur)).unwrap();
            assert_eq!(s.read("x", &[]).unwrap().1, vec![old + 7]);
        }
        s.commit().unwrap();
        all.push(cur.clone());
        // Read right after the commit, so later commits append behind cached chunks.
        assert_eq!(read(vf, &format!("v{v}"), &[]), cur);
    }
    all
}

#[test]
fn reads_stay_right_across_many_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let all = history(&vf, 30);
    assert!(vf.read_cache_bytes().1 > 0, "reads filled the cache");
    for (v, want) in all.iter().enumerate() {
        let name = format!("v{v}");
        assert_eq!(&read(&vf, &name, &[]), want, "{name}");
        let n = want.len() as i64;
        assert_eq!(read(&vf, &name, &slice(3, 17)), want[3..17], "{name}");
        assert_eq!(read(&vf, &name, &slice(n - 12, n)), want[want.len() - 12..]);
        assert_eq!(
            read(&vf, &name, &[AxisSel::Index(-1)]),
            want[want.len() - 1..]
        );
    }
    // The same without the cache, and from a handle opened afresh.
    vf.set_read_cache_bytes(0);
    assert_eq!(vf.read_cache_bytes(), (0, 0));
    for (v, want) in all.iter().enumerate() {
        assert_eq!(&read(&vf, &format!("v{v}"), &[]), want);
    }
    vf.close().unwrap();
    let vf = VersionedFile::open(path, Mode::Read).unwrap();
    for (v, want) in all.iter().enumerate() {
        assert_eq!(&read(&vf, &format!("v{v}"), &[]), want);
    }
    assert!(vf.verify().unwrap().ok());
}

#[test]
fn two_handles_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.h5");
    let path = path.to_str().unwrap();
    let all = {
        let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
        let all = history(&vf, 8);
        vf.close().unwrap();
        all
    };
    let a = VersionedFile::open(path, Mode::Read).unwrap();
    let b = VersionedFile::open(path, Mode::Read).unwrap();
    for (v, want) in all.iter().enumerate().rev() {
        let name = format!("v{v}");
        assert_eq!(&read(&a, &name, &[]), want);
        assert_eq!(
            &read(&b, &name, &slice(5, 40)),
            &want[5..40.min(want.len())]
        );
        assert_eq!(&read(&b, &name, &[]), want);
    }
    a.close().unwrap();
    // Closing one handle leaves the other's reads whole.
    assert_eq!(&read(&b, "v7", &[]), &all[7]);
    assert_eq!(
        a.read("v7", "x", &[]).unwrap_err().code(),
        "FILE_CLOSED",
        "a closed handle answers nothing from its cache"
    );
}

#[test]
fn the_cache_stays_within_its_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let all = history(&vf, 20);
    // Each chunk is 80 bytes plus bookkeeping: room for a handful only.
    vf.set_read_cache_bytes(1000);
    for (v, want) in all.iter().enumerate() {
        assert_eq!(&read(&vf, &format!("v{v}"), &[]), want);
        let (cap, used) = vf.read_cache_bytes();
        assert_eq!(cap, 1000);
        assert!(used <= cap, "{used} bytes cached, capacity {cap}");
    }
    vf.set_read_cache_bytes(vh5::DEFAULT_READ_CACHE_BYTES);
    assert_eq!(vf.read_cache_bytes().0, 64 << 20);
}

/// A stage abandoned after reading and changing cached chunks, and a commit refused
/// before writing, change nothing a read sees. (A commit that fails after storing
/// chunks drops the rows it wrote from the cache first, see `cache::forget_rows`; no
/// input makes a commit fail there without fault injection.)
#[test]
fn abandoned_and_refused_commits_leave_reads_right() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let all = history(&vf, 3);
    let s = vf.stage("bad", StageOptions::default()).unwrap();
    let mut changed = all[2].clone();
    changed[1] = -7.0;
    changed.extend([8.0; 11]);
    s.resize("x", &[changed.len() as u64]).unwrap();
    s.write("x", &[], &f64s(&changed)).unwrap();
    assert_eq!(to_f64(&s.read("x", &[]).unwrap().0), changed);
    s.abort();
    // Refused when staging: an unknown parent.
    let r = vf.stage(
        "bad2",
        StageOptions {
            prev_version: Some("nope".into()),
            ..Default::default()
        },
    );
    assert!(r.is_err());
    for (v, want) in all.iter().enumerate() {
        assert_eq!(&read(&vf, &format!("v{v}"), &[]), want);
    }
    // Later commits append behind the cached chunks and read back right.
    let s = vf.stage("v3", StageOptions::default()).unwrap();
    let mut want = all[2].clone();
    want[0] = 1e9;
    want.push(5.0);
    s.resize("x", &[want.len() as u64]).unwrap();
    s.write("x", &[], &f64s(&want)).unwrap();
    s.commit().unwrap();
    assert_eq!(read(&vf, "v3", &[]), want);
    assert_eq!(&read(&vf, "v2", &[]), &all[2]);
    assert!(vf.verify().unwrap().ok());
}

#[test]
fn read_cached_answers_only_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.h5");
    let path = path.to_str().unwrap();
    let all = {
        let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
        let all = history(&vf, 4);
        vf.close().unwrap();
        all
    };
    let vf = VersionedFile::open(path, Mode::Read).unwrap();
    assert!(
        vf.read_cached("v3", "x", &[], 1 << 20).is_none(),
        "nothing was read yet"
    );
    let whole = vf.read_data("v3", "x", &[]).unwrap();
    let (got, shape) = vf.read_cached("v3", "x", &[], 1 << 20).unwrap().unwrap();
    assert_eq!((got.clone(), shape.clone()), whole);
    let ReadData::Raw(b) = got else {
        panic!("numbers expected")
    };
    assert_eq!(b.as_bytes().as_ptr() as usize % 8, 0);
    assert_eq!(to_f64(&Values::Raw(b.to_vec())), all[3]);
    assert!(
        vf.read_cached("v3", "x", &[], 8).is_none(),
        "larger than allowed"
    );
    assert_eq!(
        vf.read_cached("v3", "x", &[AxisSel::Index(1000)], 1 << 20)
            .unwrap()
            .unwrap_err()
            .code(),
        "OUT_OF_BOUNDS"
    );
    vf.set_read_cache_bytes(0);
    assert!(vf.read_cached("v3", "x", &[], 1 << 20).is_none());
}

/// Reads of many chunks go outside libhdf5 (docs/design/012): they give what the
/// chunk-by-chunk path gives, keep right while commits append slots to the same open
/// handle, and leave the read cache as it was (a scan does not flush it).
#[test]
fn direct_reads_agree_and_leave_the_cache_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let mut cur: Vec<f64> = (0..1995).map(|i| f64::from(i) * 0.25).collect();
    let s = vf.stage("v0", StageOptions::default()).unwrap();
    let opts = CreateOptions {
        data: Some(f64s(&cur)),
        chunks: Some(vec![50]),
        dtype: Some(Dtype::Float64),
        ..Default::default()
    };
    s.create_dataset("x", opts).unwrap();
    s.commit().unwrap();
    // Two chunks read through the cache, then a full read (40 chunks).
    assert_eq!(read(&vf, "v0", &slice(0, 100)), cur[..100]);
    let before = vf.read_cache_bytes().1;
    assert!(before > 0);
    assert_eq!(vf.direct_read_count(), 0);
    assert_eq!(read(&vf, "v0", &[]), cur);
    assert_eq!(vf.direct_read_count(), 1, "the full read went direct");
    assert_eq!(
        vf.read_cache_bytes().1,
        before,
        "the scan left the cache alone"
    );
    assert!(vf.read_cached("v0", "x", &slice(0, 100), 1 << 20).is_some());
    for v in 1..6 {
        let s = vf.stage(&format!("v{v}"), StageOptions::default()).unwrap();
        let n = cur.len();
        cur.extend((0..77).map(|i| f64::from(v * 1000 + i)));
        cur[v as usize * 311] = -f64::from(v);
        s.resize("x", &[cur.len() as u64]).unwrap();
        s.write("x", &[], &f64s(&cur)).unwrap();
        s.commit().unwrap();
        let got = read(&vf, &format!("v{v}"), &[]);
        assert_eq!(got, cur, "v{v} after appending to {n}");
        let stepped = read(
            &vf,
            &format!("v{v}"),
            &[AxisSel::Slice {
                start: Some(7),
                stop: None,
                step: 9,
            }],
        );
        let want: Vec<f64> = cur.iter().skip(7).step_by(9).copied().collect();
        assert_eq!(stepped, want);
    }
    assert_eq!(vf.direct_read_count(), 11);
    // The same from a handle opened afresh, chunk by chunk and whole.
    vf.close().unwrap();
    let ro = VersionedFile::open(path, Mode::Read).unwrap();
    let by_chunk: Vec<f64> = (0..cur.len() as i64)
        .step_by(50)
        .flat_map(|a| read(&ro, "v5", &slice(a, (a + 50).min(cur.len() as i64))))
        .collect();
    assert_eq!(by_chunk, cur);
    assert_eq!(ro.direct_read_count(), 0);
    assert_eq!(read(&ro, "v5", &[]), cur);
    assert_eq!(ro.direct_read_count(), 1);
}

/// Small reads (a few chunks, one box of the selection in each) of unfiltered data go
/// outside libhdf5 too, as positioned reads of just the bytes they select, once the
/// storage's slot index exists: a run of small reads builds it, a few do not. They
/// agree with the model everywhere, edge chunks, unmapped chunks (the fill value) and
/// dropped axes included; a stepped selection still goes chunk by chunk.
#[test]
fn small_reads_go_direct_after_a_run_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.h5");
    let path = path.to_str().unwrap();
    let (rows, cols) = (90i64, 70i64);
    let at = |r: i64, c: i64| (r * 1000 + c) as f64;
    let model: Vec<f64> = (0..rows)
        .flat_map(|r| (0..cols).map(move |c| at(r, c)))
        .collect();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let s = vf.stage("v0", StageOptions::default()).unwrap();
    s.create_dataset(
        "x",
        CreateOptions {
            data: Some(f64s(&model)),
            shape: Some(vec![rows as u64, cols as u64]),
            chunks: Some(vec![16, 20]),
            dtype: Some(Dtype::Float64),
            fill: Some(f64s(&[-1.0])),
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    // v1 grows into chunks never written: they read as the fill value.
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    s.resize("x", &[rows as u64 + 30, cols as u64]).unwrap();
    s.commit().unwrap();
    vf.close().unwrap();
    let ro = VersionedFile::open(path, Mode::Read).unwrap();
    ro.set_read_cache_bytes(0);
    let bx = |r0: i64, r1: i64, c0: i64, c1: i64| {
        [
            AxisSel::Slice {
                start: Some(r0),
                stop: Some(r1),
                step: 1,
            },
            AxisSel::Slice {
                start: Some(c0),
                stop: Some(c1),
                step: 1,
            },
        ]
    };
    let want = |r0: i64, r1: i64, c0: i64, c1: i64| -> Vec<f64> {
        (r0..r1)
            .flat_map(|r| (c0..c1).map(move |c| if r < rows { at(r, c) } else { -1.0 }))
            .collect()
    };
    let mut seed = 17u64;
    let mut next = |n: i64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % n as u64) as i64
    };
    for i in 0..400 {
        let (r0, c0) = (next(rows + 30), next(cols));
        let (r1, c1) = (
            (r0 + 1 + next(20)).min(rows + 30),
            (c0 + 1 + next(30)).min(cols),
        );
        let got = read(&ro, "v1", &bx(r0, r1, c0, c1));
        assert_eq!(got, want(r0, r1, c0, c1), "box {r0}..{r1} × {c0}..{c1}");
        if i == 60 {
            assert_eq!(
                ro.direct_read_count(),
                0,
                "a few small reads build no index"
            );
        }
    }
    let direct = ro.direct_read_count();
    // All but the first 64 and those that touch only unmapped chunks (about a quarter).
    assert!(
        direct > 200,
        "a run of small reads went direct ({direct} of 400)"
    );
    // A dropped axis, and a stepped selection (chunk by chunk).
    let row = read(
        &ro,
        "v0",
        &[
            AxisSel::Index(33),
            AxisSel::Slice {
                start: Some(5),
                stop: Some(61),
                step: 1,
            },
        ],
    );
    assert_eq!(row, want(33, 34, 5, 61));
    assert_eq!(ro.direct_read_count(), direct + 1);
    let stepped = read(
        &ro,
        "v0",
        &[
            AxisSel::Slice {
                start: Some(3),
                stop: Some(9),
                step: 2,
            },
            AxisSel::Slice {
                start: Some(0),
                stop: Some(10),
                step: 1,
            },
        ],
    );
    let ws: Vec<f64> = [3, 5, 7]
        .iter()
        .flat_map(|&r| (0..10).map(move |c| at(r, c)))
        .collect();
    assert_eq!(stepped, ws);
    assert_eq!(
        ro.direct_read_count(),
        direct + 1,
        "stepped: chunk by chunk"
    );
}
