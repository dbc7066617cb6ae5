//! Unit tests of staging and commit internals: chunk cutting, re-cutting, and slots
//! written in batches.

use super::dataset::{cut_chunk, recut, recut_any};
use super::*;
use crate::dtype::Dtype;
use crate::file::Mode;
use crate::grid;
use crate::h5::{Compression, Filters};
use crate::hash::hash_chunk;
use crate::strings::Values;
use crate::AxisSel;
use std::borrow::Cow;

#[test]
fn recut_by_rows_equals_the_general_recut() {
    let fill = 7u16.to_le_bytes();
    for (from, to) in [
        (vec![5u64], vec![9u64]),
        (vec![9], vec![5]),
        (vec![3, 4], vec![6, 4]),
        (vec![6, 4], vec![2, 4]),
        (vec![2, 3, 2], vec![4, 3, 2]),
        (vec![4, 3, 2], vec![0, 3, 2]),
    ] {
        let n = grid::volume(&from).unwrap();
        let buf: Vec<u8> = (0..n as u16).flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            recut(&buf, &from, &to, &fill, 2).unwrap(),
            recut_any(&buf, &from, &to, &fill, 2).unwrap(),
            "{from:?} -> {to:?}"
        );
    }
}

fn le(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn floats(v: &Values) -> Vec<f64> {
    let Values::Raw(b) = v else {
        panic!("numbers expected")
    };
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// 301 chunks of 1,000 (the last one 500 long) over several slot batches: chunk i
/// repeats pattern i % 7, chunk 5 is all fill value.
fn patterned() -> Vec<f64> {
    (0..300_500)
        .map(|i| {
            let c = i / 1000;
            if c == 5 {
                0.0
            } else {
                ((c % 7) * 1_000_000 + i % 1000) as f64 + 0.5
            }
        })
        .collect()
}

#[test]
fn shared_data_is_cut_hashed_deduplicated_and_written_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let data = patterned();
    for (i, compression) in [Compression::None, Compression::Gzip(4), Compression::Lzf]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("s{i}.h5"));
        let path = path.to_str().unwrap();
        let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
        let s = vf.stage("v1", StageOptions::default()).unwrap();
        let shared: Arc<dyn SharedBytes> = Arc::new(le(&data));
        let opts = CreateOptions {
            chunks: Some(vec![1000]),
            dtype: Some(Dtype::Float64),
            filters: Filters {
                compression,
                ..Default::default()
            },
            ..Default::default()
        };
        s.create_dataset_shared("x", opts, shared.clone()).unwrap();
        // Staged reads and writes see the shared data.
        let (got, _) = s.read("x", &[]).unwrap();
        assert_eq!(floats(&got), data);
        let mut want = data.clone();
        want[2500] = -1.0;
        s.write("x", &[AxisSel::Index(2500)], &Values::Raw(le(&[-1.0])))
            .unwrap();
        s.commit().unwrap();
        assert_eq!(floats(&vf.read("v1", "x", &[]).unwrap().0), want);
        // 7 patterns of full chunks, the written chunk, the edge chunk; the fill
        // chunk is not stored.
        let mut f = vf.lock();
        let dg = f.data_group("x").unwrap().unwrap();
        assert_eq!(dg.largest_index, 9, "{compression:?}");
        let bytes = le(&want);
        for (c, ext) in [(0usize, 1000u64), (2, 1000), (300, 500)] {
            let chunk = &bytes[c * 8000..c * 8000 + ext as usize * 8];
            assert!(dg
                .index
                .contains_key(&hash_chunk(HashKind::Blake3, chunk, &[ext])));
        }
        drop(f);
        vf.close().unwrap();
    }
}

#[test]
fn shared_nd_data_is_cut_where_chunks_are_not_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nd.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let data: Vec<f64> = (0..37 * 50).map(|i| (i % 211) as f64).collect();
    // Chunks of whole rows lie contiguously; the others are cut.
    for (name, chunks) in [("rows", vec![8, 50]), ("tiles", vec![8, 16])] {
        let s = vf.stage(name, StageOptions::default()).unwrap();
        s.create_dataset(
            name,
            CreateOptions {
                shape: Some(vec![37, 50]),
                data: Some(Values::Raw(le(&data))),
                chunks: Some(chunks),
                dtype: Some(Dtype::Float64),
                ..Default::default()
            },
        )
        .unwrap();
        let sel = [
            AxisSel::Slice {
                start: Some(3),
                stop: Some(30),
                step: 7,
            },
            AxisSel::Index(49),
        ];
        let (part, _) = s.read(name, &sel).unwrap();
        let want: Vec<f64> = (3..30).step_by(7).map(|r| data[r * 50 + 49]).collect();
        assert_eq!(floats(&part), want);
        s.commit().unwrap();
        assert_eq!(floats(&vf.read(name, name, &[]).unwrap().0), data);
    }
    // A resize after creation keeps the data and fills the rest.
    let s = vf.stage("grown", StageOptions::default()).unwrap();
    s.create_dataset(
        "g",
        CreateOptions {
            shape: Some(vec![37, 50]),
            data: Some(Values::Raw(le(&data))),
            chunks: Some(vec![8, 16]),
            dtype: Some(Dtype::Float64),
            ..Default::default()
        },
    )
    .unwrap();
    s.resize("g", &[20, 60]).unwrap();
    s.commit().unwrap();
    let got = floats(&vf.read("grown", "g", &[]).unwrap().0);
    for r in 0..20 {
        for c in 0..60 {
            let want = if c < 50 { data[r * 50 + c] } else { 0.0 };
            assert_eq!(got[r * 60 + c], want);
        }
    }
    vf.close().unwrap();
}

#[test]
fn cut_chunk_borrows_contiguous_chunks() {
    let data: Vec<u8> = (0..60).collect();
    // shape [3, 4, 5], bytes as elements.
    let shape = [3, 4, 5];
    let c = cut_chunk(&data, &shape, &[1, 4, 5], &[2, 0, 0], 1).unwrap();
    assert!(matches!(c, Cow::Borrowed(_)));
    assert_eq!(&c[..], &data[40..60]);
    let c = cut_chunk(&data, &shape, &[1, 2, 5], &[1, 1, 0], 1).unwrap();
    assert!(matches!(c, Cow::Borrowed(_)));
    assert_eq!(&c[..], &data[30..40]);
    let c = cut_chunk(&data, &shape, &[2, 2, 5], &[1, 1, 0], 1).unwrap();
    assert!(matches!(c, Cow::Borrowed(_)), "an edge chunk one row high");
    assert_eq!(&c[..], &data[50..60]);
    let c = cut_chunk(&data, &shape, &[2, 2, 5], &[0, 1, 0], 1).unwrap();
    assert!(matches!(c, Cow::Owned(_)));
    let want: Vec<u8> = (10..20).chain(30..40).collect();
    assert_eq!(&c[..], &want[..]);
    assert!(cut_chunk(&data[..59], &shape, &[1, 4, 5], &[0, 0, 0], 1).is_err());
}
