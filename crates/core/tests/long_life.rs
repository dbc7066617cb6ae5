//! Long life: one open handle takes many small commits with its memory (RSS), file
//! descriptors and open HDF5 objects flat. `VH5_SOAK_COMMITS` sets the count (CI's
//! `cargo test`: 20,000; `npm run soak:commits`: 100,000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test panics with what it found"
)]

mod common;
use common::*;
use vh5::{CreateOptions, Dtype, Mode, StageOptions, VersionedFile};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn many_small_commits_keep_memory_fds_and_objects_flat() {
    let n: usize = std::env::var("VH5_SOAK_COMMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.h5");
    let p = path.to_str().unwrap();
    let vf = VersionedFile::open(p, Mode::Truncate).unwrap();
    // Small bounds for the two caches, so that they fill during the warm-up and what
    // is measured after it is what is not bounded.
    vf.set_catalog_bytes(4 << 20);
    vf.set_read_cache_bytes(4 << 20);
    let s = vf.stage("v0", StageOptions::default()).unwrap();
    s.create_dataset(
        "x",
        CreateOptions {
            data: Some(f64s(&[0.0; 64])),
            chunks: Some(vec![16]),
            dtype: Some(Dtype::Float64),
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    let commit = |i: usize| {
        let s = vf.stage(&format!("v{i}"), StageOptions::default()).unwrap();
        let at = (i % 64) as i64;
        s.write("x", &slice(at, at + 1), &f64s(&[i as f64]))
            .unwrap();
        s.commit().unwrap();
    };
    // Warm up: caches fill to their bounds, libhdf5's metadata cache settles.
    let warm = n / 5;
    for i in 1..=warm {
        commit(i);
    }
    let (rss0, fds0, objs0) = (rss_kib(), open_fds(), vh5::hdf5_open_objects());
    let t0 = std::time::Instant::now();
    let mut samples = Vec::new();
    for i in warm + 1..=n {
        commit(i);
        if i % (n / 10).max(1) == 0 {
            samples.push((i, rss_kib(), open_fds(), vh5::hdf5_open_objects()));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let (rss1, fds1, objs1) = (rss_kib(), open_fds(), vh5::hdf5_open_objects());
    println!(
        "{n} commits on one handle ({} after a warm-up of {warm}, {:.0} commits/s): RSS {rss0} KiB -> {rss1} KiB ({:+.1} bytes per commit), fds {fds0} -> {fds1}, open HDF5 objects {objs0} -> {objs1}; catalog {:?}; samples (commit, RSS KiB, fds, objects): {samples:?}",
        n - warm,
        (n - warm) as f64 / secs,
        (rss1 as f64 - rss0 as f64) * 1024.0 / (n - warm) as f64,
        vf.catalog_stats(),
    );
    assert_eq!(fds1, fds0, "file descriptors stay flat");
    assert_eq!(objs1, objs0, "open HDF5 objects stay flat");
    // What grows with each version by design: the in-memory version index (its name,
    // parent and time, about 350 bytes) and libhdf5's cached nodes of the `versions`
    // group's link index (which its metadata cache bounds, 32 MiB by default): about
    // 900 bytes per commit measured over 16,000 commits. Leaked HDF5 objects and file
    // descriptors are caught exactly above; a leak of a kilobyte or more per commit
    // goes past this bound.
    let per_commit = (rss1.saturating_sub(rss0) * 1024) / (n - warm) as u64;
    assert!(per_commit < 1536, "RSS grew {per_commit} bytes per commit");
    let last = format!("v{n}");
    assert_eq!(vf.current_version().unwrap(), last);
    let (b, _) = vf.read(&last, "x", &[]).unwrap();
    assert_eq!(to_f64(&b)[n % 64], n as f64);
    vf.close().unwrap();
}
