//! Storage statistics through the engine: stored and live chunks and bytes per dataset
//! path, against the chunk index libhdf5 reports through hdf5-metno (an independent
//! reader), before and after versions are deleted; and the progress that verify and
//! delete_versions report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test panics with what it found"
)]

mod common;
use std::sync::{Arc, Mutex};

use common::*;
use vh5::{AxisSel, CreateOptions, Dtype, Mode, Progress, StageOptions, VersionedFile};

/// (stored chunks, their bytes) of a path's raw_data, read with hdf5-metno.
fn chunk_index(file: &str, ds: &str) -> (u64, u64) {
    let f = peek(file);
    let d = f.dataset(&format!("_version_data/{ds}/raw_data")).unwrap();
    let n = d.num_chunks().unwrap();
    let bytes = (0..n).map(|i| d.chunk_info(i).unwrap().size).sum();
    (n as u64, bytes)
}

/// Every (done, total) a progress callback was given.
type Seen = Arc<Mutex<Vec<(u64, u64)>>>;

/// A progress callback that records every report.
fn recorder() -> (Seen, Progress) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, Box::new(move |d, t| s.lock().unwrap().push((d, t))))
}

#[test]
fn stored_and_live_chunks_per_path_and_progress_of_verify_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    // v1: plain 100 distinct float64 in chunks of 10 (10 slots of 80 bytes), and a
    // gzip dataset whose chunk sizes only libhdf5 knows.
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    let plain: Vec<f64> = (0..100).map(f64::from).collect();
    s.create_dataset(
        "plain",
        CreateOptions {
            data: Some(f64s(&plain)),
            chunks: Some(vec![10]),
            dtype: Some(Dtype::Float64),
            ..Default::default()
        },
    )
    .unwrap();
    let zipped: Vec<f64> = (0..300).map(|i| f64::from(i % 7)).collect();
    s.create_dataset(
        "g/zipped",
        CreateOptions {
            data: Some(f64s(&zipped)),
            chunks: Some(vec![100]),
            dtype: Some(Dtype::Float64),
            filters: vh5::Filters {
                compression: vh5::Compression::Gzip(6),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    // v2 changes one chunk of each: one new slot each.
    let s = vf.stage("v2", StageOptions::default()).unwrap();
    s.write("plain", &[AxisSel::Index(15)], &f64s(&[-1.0]))
        .unwrap();
    s.write("g/zipped", &[AxisSel::Index(0)], &f64s(&[-1.0]))
        .unwrap();
    s.commit().unwrap();

    let st = vf.storage_stats(true).unwrap();
    assert_eq!(st.file_bytes, std::fs::metadata(path).unwrap().len());
    let paths: Vec<&str> = st.datasets.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["g/zipped", "plain"]);
    let z = &st.datasets[0];
    let p = &st.datasets[1];
    assert_eq!(
        (
            p.slots,
            p.stored_chunks,
            p.stored_bytes,
            p.live_slots,
            p.live_bytes
        ),
        (11, 11, 880, Some(11), Some(880))
    );
    assert!(!p.heap_strings);
    // The three chunks of i % 7 differ (100 is not a multiple of 7): 3 + 1 slots.
    let (zn, zbytes) = chunk_index(path, "g/zipped");
    assert_eq!((z.slots, z.stored_chunks, z.stored_bytes), (4, zn, zbytes));
    assert_eq!(zn, 4);
    assert!(zbytes < 4 * 800, "gzip shrinks them: {zbytes}");
    assert_eq!((z.live_slots, z.live_bytes), (Some(4), Some(zbytes)));
    assert_eq!(st.stored_bytes, 880 + zbytes);
    assert_eq!(st.live_bytes, Some(st.stored_bytes));
    let (meta, objects) = (st.metadata_bytes.unwrap(), st.object_bytes.unwrap());
    assert!(meta > 0 && objects > meta + st.stored_bytes);
    assert_eq!(
        st.reclaimable_bytes(),
        Some(st.file_bytes.saturating_sub(objects))
    );
    // Without the live figures: the same chunk figures, the rest left out.
    let quick = vf.storage_stats(false).unwrap();
    assert_eq!(quick.stored_bytes, st.stored_bytes);
    assert_eq!(
        (
            quick.live_bytes,
            quick.object_bytes,
            quick.reclaimable_bytes()
        ),
        (None, None, None)
    );
    let strip = |d: &vh5::DatasetStorage| vh5::DatasetStorage {
        live_slots: None,
        live_bytes: None,
        ..d.clone()
    };
    assert_eq!(
        quick.datasets,
        st.datasets.iter().map(strip).collect::<Vec<_>>()
    );

    // verify: one step per version, then one per distinct chunk (11 + 4).
    let (seen, progress) = recorder();
    assert!(vf.verify_with_progress(Some(progress)).unwrap().ok());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2 + 15);
    assert_eq!(seen[0], (1, 2));
    assert_eq!(seen[1], (2, 2));
    assert_eq!(seen[2], (3, 17));
    assert_eq!(*seen.last().unwrap(), (17, 17));
    assert!(seen.windows(2).all(|w| w[1].0 == w[0].0 + 1));

    // Deleting v1 drops the slots only it mapped (one per path) from raw_data.
    let (seen, progress) = recorder();
    vf.delete_versions_with_progress(&["v1".to_string()], Some(progress))
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    // Each kept slot (10 + 3), v2's two version datasets, v1's group, the flush: 10 + 3 + 2 + 1 + 1.
    assert_eq!(*seen.last().unwrap(), (17, 17));
    assert!(seen.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 == 17));
    let st = vf.storage_stats(true).unwrap();
    let (zn, zbytes) = chunk_index(path, "g/zipped");
    assert_eq!(
        (
            st.datasets[1].slots,
            st.datasets[1].stored_chunks,
            st.datasets[1].stored_bytes,
            st.datasets[1].live_slots
        ),
        (10, 10, 800, Some(10))
    );
    assert_eq!(
        (st.datasets[0].stored_chunks, st.datasets[0].stored_bytes),
        (zn, zbytes)
    );
    assert_eq!(zn, 3);
    assert_eq!(st.live_bytes, Some(800 + zbytes));
    vf.close().unwrap();

    // Read-only opens work; a closed handle says FILE_CLOSED.
    let ro = VersionedFile::open(path, Mode::Read).unwrap();
    assert_eq!(
        ro.storage_stats(true).unwrap().live_bytes,
        Some(800 + zbytes)
    );
    ro.close().unwrap();
    assert_eq!(
        ro.storage_stats(true).unwrap_err().kind,
        vh5::ErrorKind::FileClosed
    );
}
