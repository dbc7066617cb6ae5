//! One open file taking many commits and reads of old versions: what it keeps in
//! memory about versions stays within the catalog's bound, and open HDF5 objects
//! and memory stay flat.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test panics with what it found"
)]

mod common;
use common::*;
use vh5::{AxisSel, CreateOptions, Dtype, Mode, StageOptions, VersionedFile};

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A small deterministic generator (xorshift), for which old versions to read.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The value version `v` holds at index `i` of `x`: version `v` wrote `v` at index
/// `v % 40`; index `i` keeps the last version at or before `v` that wrote it.
fn expected(v: u64, i: u64) -> f64 {
    if v < i {
        -1.0
    } else {
        (v - (v - i) % 40) as f64
    }
}

#[test]
fn twenty_thousand_commits_keep_memory_and_open_objects_flat() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    // A small bound, so that eviction runs all along (each version here costs a few
    // kilobytes of facts: 20,000 of them would be tens of megabytes).
    let cap = 2 << 20;
    vf.set_catalog_bytes(cap);
    let n = 20_000u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut objects_at, mut rss_at) = (0, 0);
    let mut max_bytes = 0;
    for v in 0..n {
        let s = vf.stage(&format!("v{v}"), StageOptions::default()).unwrap();
        if v == 0 {
            s.create_dataset(
                "x",
                CreateOptions {
                    data: Some(f64s(&[-1.0; 40])),
                    chunks: Some(vec![4]),
                    dtype: Some(Dtype::Float64),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        s.write("x", &[AxisSel::Index((v % 40) as i64)], &f64s(&[v as f64]))
            .unwrap();
        s.set_attr("", "n", vh5::AttrValue::Int(v as i64)).unwrap();
        s.commit().unwrap();
        if v % 10 == 9 {
            // An old version, whole, and one element of another.
            let old = rng.below(v + 1);
            let got = to_f64(&vf.read(&format!("v{old}"), "x", &[]).unwrap().0);
            let want: Vec<f64> = (0..40).map(|i| expected(old, i)).collect();
            assert_eq!(got, want, "version v{old}");
            let old = rng.below(v + 1);
            let i = rng.below(40);
            let got = vf
                .read(&format!("v{old}"), "x", &[AxisSel::Index(i as i64)])
                .unwrap()
                .0;
            assert_eq!(to_f64(&got), vec![expected(old, i)], "v{old}[{i}]");
        }
        let st = vf.catalog_stats();
        assert!(st.bytes <= cap, "{st:?} after v{v}");
        max_bytes = max_bytes.max(st.bytes);
        if v == 5_000 {
            objects_at = vh5::hdf5_open_objects();
            rss_at = rss();
        }
    }
    let st = vf.catalog_stats();
    assert!(st.versions < 5_000, "{st:?}");
    assert_eq!(vh5::hdf5_open_objects(), objects_at);
    let grown = rss().saturating_sub(rss_at);
    // From version 5,000 to 20,000: what grows is libhdf5's metadata cache of the
    // versions group (bounded by libhdf5) and allocator noise, not per-version state.
    assert!(grown < 48 << 20, "resident memory grew {} MiB", grown >> 20);
    eprintln!(
        "catalog: {} versions, {} KiB (max {} KiB of {} KiB); RSS +{} MiB from v5000 to v{n}",
        st.versions,
        st.bytes >> 10,
        max_bytes >> 10,
        cap >> 10,
        grown >> 20
    );
    vf.close().unwrap();
}
