//! End-to-end tests of the engine on real files.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failing test panics with what it found"
)]

mod common;
use common::*;
use vh5::{AxisSel, CreateOptions, Dtype, Mode, StageOptions, Values, VersionedFile};

#[test]
fn commit_read_and_dedup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    assert_eq!(vf.current_version().unwrap(), "__first_version__");
    let data: Vec<f64> = (0..25).map(|i| i as f64).collect();
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    s.create_dataset(
        "g/x",
        CreateOptions {
            data: Some(f64s(&data)),
            chunks: Some(vec![10]),
            dtype: Some(Dtype::Float64),
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    assert_eq!(slots(path, "g/x", 10), 3);
    let (b, shape) = vf.read("v1", "g/x", &[]).unwrap();
    assert_eq!(to_f64(&b), data);
    assert_eq!(shape, vec![25]);

    let s = vf.stage("v2", StageOptions::default()).unwrap();
    s.write("g/x", &[AxisSel::Index(0)], &f64s(&[100.0]))
        .unwrap();
    let (b, _) = s
        .read(
            "g/x",
            &[AxisSel::Slice {
                start: Some(0),
                stop: Some(3),
                step: 1,
            }],
        )
        .unwrap();
    assert_eq!(to_f64(&b), vec![100.0, 1.0, 2.0]);
    s.commit().unwrap();
    assert_eq!(slots(path, "g/x", 10), 4);
    // Rewriting identical data adds nothing.
    let s = vf.stage("v3", StageOptions::default()).unwrap();
    s.write("g/x", &[], &f64s(&data)).unwrap();
    s.commit().unwrap();
    assert_eq!(slots(path, "g/x", 10), 4);
    assert_eq!(to_f64(&vf.read("v1", "g/x", &[]).unwrap().0), data);
    assert_eq!(to_f64(&vf.read("v3", "g/x", &[]).unwrap().0), data);
    assert_eq!(
        to_f64(&vf.read("v2", "g/x", &[AxisSel::Index(0)]).unwrap().0),
        vec![100.0]
    );
    assert_eq!(vf.versions().unwrap(), vec!["v1", "v2", "v3"]);
    vf.close().unwrap();

    let vf = VersionedFile::open(path, Mode::Read).unwrap();
    assert_eq!(vf.current_version().unwrap(), "v3");
    assert_eq!(
        to_f64(&vf.read("v2", "g/x", &[]).unwrap().0)[..2],
        [100.0, 1.0]
    );
    assert_eq!(
        vf.stage("v4", StageOptions::default())
            .err()
            .unwrap()
            .code(),
        "READ_ONLY"
    );
}

#[test]
fn abort_leaves_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    s.create_dataset(
        "x",
        CreateOptions {
            data: Some(f64s(&[1.0, 2.0])),
            ..Default::default()
        },
    )
    .unwrap();
    s.abort();
    assert!(vf.versions().unwrap().is_empty());
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    s.create_dataset(
        "x",
        CreateOptions {
            data: Some(f64s(&[1.0, 2.0])),
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    assert_eq!(vf.versions().unwrap(), vec!["v1"]);
}

/// A dense row-major model of a 2-D dataset.
#[derive(Clone, Debug)]
struct Dense {
    rows: usize,
    cols: usize,
    v: Vec<f64>,
}

impl Dense {
    fn resize(&mut self, rows: usize, cols: usize, fill: f64) {
        let mut v = vec![fill; rows * cols];
        for r in 0..rows.min(self.rows) {
            for c in 0..cols.min(self.cols) {
                v[r * cols + c] = self.v[r * self.cols + c];
            }
        }
        *self = Dense { rows, cols, v };
    }
}

#[derive(Clone, Debug)]
enum Op {
    Resize(usize, usize),
    /// Write value at (r, c), both taken modulo the current shape.
    Write(usize, usize, f64),
    Commit,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0usize..12, 0usize..12).prop_map(|(r, c)| Op::Resize(r, c)),
        (0usize..100, 0usize..100, -50i32..50).prop_map(|(r, c, v)| Op::Write(r, c, v as f64)),
        Just(Op::Commit),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any sequence of resizes and writes, spread over several versions, reads back
    /// like a dense array resized with h5py's semantics; every version keeps its data.
    #[test]
    fn resize_and_write_match_a_dense_model(ops in proptest::collection::vec(op(), 1..24)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.h5");
        let vf = VersionedFile::open(path.to_str().unwrap(), Mode::Truncate).unwrap();
        let fill = -1.0;
        let mut model = Dense { rows: 5, cols: 7, v: (0..35).map(f64::from).collect() };
        let s = vf.stage("v0", StageOptions::default()).unwrap();
        s.create_dataset("d", CreateOptions {
            shape: Some(vec![5, 7]),
            data: Some(f64s(&model.v)),
            chunks: Some(vec![3, 4]),
            fill: Some(f64s(&[fill])),
            ..Default::default()
        }).unwrap();
        s.commit().unwrap();
        let mut committed = vec![("v0".to_string(), model.clone())];
        let mut stage = vf.stage("v1", StageOptions::default()).unwrap();
        for op in ops {
            match op {
                Op::Resize(r, c) => {
                    stage.resize("d", &[r as u64, c as u64]).unwrap();
                    model.resize(r, c, fill);
                }
                Op::Write(r, c, v) => {
                    if model.rows > 0 && model.cols > 0 {
                        let (r, c) = (r % model.rows, c % model.cols);
                        stage.write("d", &[AxisSel::Index(r as i64), AxisSel::Index(c as i64)], &f64s(&[v])).unwrap();
                        model.v[r * model.cols + c] = v;
                    }
                }
                Op::Commit => {
                    let name = stage.name();
                    stage.commit().unwrap();
                    committed.push((name, model.clone()));
                    stage = vf.stage(&format!("v{}", committed.len()), StageOptions::default()).unwrap();
                }
            }
            let (b, shape) = stage.read("d", &[]).unwrap();
            proptest::prop_assert_eq!(shape, vec![model.rows as u64, model.cols as u64]);
            proptest::prop_assert_eq!(to_f64(&b), model.v.clone());
        }
        let name = stage.name();
        stage.commit().unwrap();
        committed.push((name, model));
        for (name, m) in &committed {
            let (b, shape) = vf.read(name, "d", &[]).unwrap();
            proptest::prop_assert_eq!(shape, vec![m.rows as u64, m.cols as u64]);
            proptest::prop_assert_eq!(&to_f64(&b), &m.v, "version {}", name);
        }
    }
}

#[test]
fn strings_round_trip_dedup_and_hash_like_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let words: Vec<Vec<u8>> = ["a", "b", "c", "a", "b", "c", "", "ü"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    s.create_dataset(
        "s",
        CreateOptions {
            data: Some(Values::Strings(words.clone())),
            chunks: Some(vec![3]),
            hash: Some(vh5::HashKind::Sha256),
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    // ["a","b","c"] twice is stored once: slots abc, "" + ü → 2 slots.
    assert_eq!(slots(path, "s", 3), 2);
    let (v, _) = vf.read("v1", "s", &[]).unwrap();
    assert_eq!(v, Values::Strings(words.clone()));
    // A non-empty fill value is refused for variable-length strings.
    let s = vf.stage("v2", StageOptions::default()).unwrap();
    let e = s
        .create_dataset(
            "t",
            CreateOptions {
                shape: Some(vec![2]),
                dtype: Some(Dtype::VlenString { utf8: true }),
                fill: Some(Values::Strings(vec![b"x".to_vec()])),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    // Resize pads with "", writes land, the parent is untouched.
    s.resize("s", &[10]).unwrap();
    s.write(
        "s",
        &[AxisSel::Index(9)],
        &Values::Strings(vec![b"z".to_vec()]),
    )
    .unwrap();
    s.commit().unwrap();
    let (v, _) = vf.read("v2", "s", &[]).unwrap();
    let mut want = words.clone();
    want.extend([b"".to_vec(), b"z".to_vec()]);
    assert_eq!(v, Values::Strings(want));
    assert_eq!(vf.read("v1", "s", &[]).unwrap().0, Values::Strings(words));
    // The stored SHA-256 of the chunk ["a","b","c"] follows spec §2.2.
    let f = peek(path);
    let t = f.dataset("_version_data/s/hash_table").unwrap();
    #[derive(hdf5::H5Type, Clone, Copy)]
    #[repr(C)]
    struct Row {
        hash: [u8; 32],
        shape: [i64; 2],
    }
    let raw: Vec<u8> = t.read_raw::<Row>().unwrap()[0].hash.to_vec();
    let want = vh5::hash::hash_chunk(
        vh5::HashKind::Sha256,
        &vh5::hash::string_payload(&["a", "b", "c"]),
        &[3],
    );
    assert_eq!(&raw[..32], &want);
}

fn three_versions(path: &str) {
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    s.create_dataset(
        "x",
        CreateOptions {
            data: Some(f64s(&(0..25).map(f64::from).collect::<Vec<_>>())),
            chunks: Some(vec![10]),
            ..Default::default()
        },
    )
    .unwrap();
    s.create_dataset(
        "g/s",
        CreateOptions {
            data: Some(Values::Strings(vec![b"a".to_vec(), b"bc".to_vec()])),
            chunks: Some(vec![1]),
            hash: Some(vh5::HashKind::Sha256),
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    for name in ["v2", "v3"] {
        let s = vf.stage(name, StageOptions::default()).unwrap();
        s.write("x", &[AxisSel::Index(3)], &f64s(&[100.0])).unwrap();
        s.commit().unwrap();
    }
    vf.close().unwrap();
}

#[test]
fn verify_passes_sound_files_and_names_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.h5");
    let path = path.to_str().unwrap();
    three_versions(path);
    let rep = VersionedFile::open(path, Mode::Read)
        .unwrap()
        .verify()
        .unwrap();
    assert!(rep.ok(), "{:?}", rep.problems);
    assert_eq!((rep.versions, rep.datasets), (3, 6));
    // 3 chunks of x in v1 + 1 new in v2 (v3 equals v2) + 2 string chunks.
    assert_eq!(rep.chunks, 6);

    // A changed byte in a stored chunk.
    {
        let f = hdf5::File::open_rw(path).unwrap();
        let raw = f.dataset("_version_data/x/raw_data").unwrap();
        raw.write_slice(&[-7.0f64], 11..12).unwrap();
    }
    let rep = VersionedFile::open(path, Mode::Read)
        .unwrap()
        .verify()
        .unwrap();
    assert_eq!(rep.problems.len(), 1, "{:?}", rep.problems);
    assert!(rep.problems[0]
        .location
        .contains("/_version_data/x slot at row 10"));
    assert!(rep.problems[0].message.contains("does not match"));

    // raw_data cut short: the mappings past its end are reported, nothing panics.
    three_versions(path);
    {
        let f = hdf5::File::open_rw(path).unwrap();
        let raw = f.dataset("_version_data/x/raw_data").unwrap();
        raw.resize(15).unwrap();
    }
    let rep = VersionedFile::open(path, Mode::Read)
        .unwrap()
        .verify()
        .unwrap();
    assert!(
        rep.problems
            .iter()
            .any(|p| p.message.contains("past the end of raw_data")),
        "{:?}",
        rep.problems
    );

    // A dangling parent, and a version group left by an interrupted commit.
    three_versions(path);
    {
        let f = hdf5::File::open_rw(path).unwrap();
        f.unlink("_version_data/versions/v1").unwrap();
        let g = f.create_group("_version_data/versions/half").unwrap();
        g.new_attr::<bool>()
            .create("committed")
            .unwrap()
            .write_scalar(&false)
            .unwrap();
        g.new_attr::<hdf5::types::VarLenUnicode>()
            .create("prev_version")
            .unwrap()
            .write_scalar(&"v3".parse::<hdf5::types::VarLenUnicode>().unwrap())
            .unwrap();
        g.new_attr::<hdf5::types::VarLenUnicode>()
            .create("timestamp")
            .unwrap()
            .write_scalar(
                &"2024-01-01 00:00:00.000000+0000"
                    .parse::<hdf5::types::VarLenUnicode>()
                    .unwrap(),
            )
            .unwrap();
    }
    let rep = VersionedFile::open(path, Mode::Read)
        .unwrap()
        .verify()
        .unwrap();
    assert!(
        rep.problems
            .iter()
            .any(|p| p.location == "v2" && p.message.contains("prev_version 'v1'")),
        "{:?}",
        rep.problems
    );
    assert!(
        rep.warnings.iter().any(|p| p.location == "half"),
        "{:?}",
        rep.warnings
    );
}

#[test]
fn commits_over_damaged_storage_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.h5");
    let path = path.to_str().unwrap();
    let kind = |r: vh5::Result<vh5::VersionInfo>| r.map(|_| ()).map_err(|e| e.kind);
    let stage_write = |vf: &VersionedFile, prev: Option<&str>| {
        let s = vf
            .stage(
                "v4",
                StageOptions {
                    prev_version: prev.map(str::to_string),
                    ..Default::default()
                },
            )
            .map_err(|e| e.kind)?;
        s.write("x", &[AxisSel::Index(1)], &f64s(&[5.0])).unwrap();
        kind(s.commit())
    };

    // raw_data cut short under v1's chunk [20:25]: appending a slot would fill it in.
    three_versions(path);
    {
        let f = hdf5::File::open_rw(path).unwrap();
        f.dataset("_version_data/x/raw_data")
            .unwrap()
            .resize(20)
            .unwrap();
    }
    let vf = VersionedFile::open(path, Mode::Append).unwrap();
    assert_eq!(
        stage_write(&vf, Some("v1")),
        Err(vh5::ErrorKind::CorruptFile)
    );
    assert_eq!(vf.versions().unwrap(), ["v1", "v2", "v3"]);
    vf.close().unwrap();
    assert_eq!(slots(path, "x", 10), 2, "raw_data keeps its 20 rows");
    let vf = VersionedFile::open(path, Mode::Read).unwrap();
    let e = vf
        .read("v1", "x", &[AxisSel::Index(22)])
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.kind, vh5::ErrorKind::CorruptFile);
    vf.close().unwrap();

    // current_version naming no version: staging over it is refused until it is set.
    three_versions(path);
    {
        let f = hdf5::File::open_rw(path).unwrap();
        f.group("_version_data/versions")
            .unwrap()
            .attr("current_version")
            .unwrap()
            .write_scalar(&"gone".parse::<hdf5::types::VarLenUnicode>().unwrap())
            .unwrap();
    }
    let vf = VersionedFile::open(path, Mode::Append).unwrap();
    assert_eq!(
        vf.nth_previous(0).map(|_| ()).map_err(|e| e.kind),
        Err(vh5::ErrorKind::CorruptFile)
    );
    assert_eq!(stage_write(&vf, None), Err(vh5::ErrorKind::CorruptFile));
    assert!(vf
        .verify()
        .unwrap()
        .problems
        .iter()
        .any(|p| p.message.contains("current_version names 'gone'")));
    vf.set_current_version("v3").unwrap();
    assert_eq!(stage_write(&vf, None), Ok(()));
    assert_eq!(vf.nth_previous(1).unwrap().name, "v3");
    assert!(vf.verify().unwrap().ok());
    vf.close().unwrap();
}

/// Float64s whose low seven bytes are pseudo-random: chunks LZF cannot shrink, which
/// are stored with the filter marked skipped.
fn incompressible(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f64::from_bits((x & 0x00ff_ffff_ffff_ffff) | 0x3f00_0000_0000_0000)
        })
        .collect()
}

#[test]
fn chunks_stored_with_a_filter_skipped_read_back_in_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skipped.h5");
    let path = path.to_str().unwrap();
    let vf = VersionedFile::open(path, Mode::Truncate).unwrap();
    let mut data = incompressible(3000, 7);
    let s = vf.stage("v1", StageOptions::default()).unwrap();
    s.create_dataset(
        "x",
        CreateOptions {
            data: Some(f64s(&data)),
            chunks: Some(vec![1000]),
            dtype: Some(Dtype::Float64),
            filters: vh5::Filters {
                compression: vh5::Compression::Lzf,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .unwrap();
    s.commit().unwrap();
    // verify reads every stored chunk back through libhdf5, the last one written too.
    assert!(vf.verify().unwrap().problems.is_empty());
    assert_eq!(to_f64(&vf.read("v1", "x", &[]).unwrap().0), data);
    // The next commit changes one element of the last chunk written.
    data[2999] = -1.0;
    let s = vf.stage("v2", StageOptions::default()).unwrap();
    s.write("x", &[AxisSel::Index(2999)], &f64s(&[-1.0]))
        .unwrap();
    s.commit().unwrap();
    assert!(vf.verify().unwrap().problems.is_empty());
    assert_eq!(to_f64(&vf.read("v2", "x", &[]).unwrap().0), data);
    drop(vf);
    let f = peek(path);
    let raw = f.dataset("_version_data/x/raw_data").unwrap();
    assert_eq!(raw.shape(), vec![4000]);
    let masks: Vec<u32> = (0..4)
        .map(|i| raw.chunk_info(i).unwrap().filter_mask)
        .collect();
    assert_eq!(masks, vec![1, 1, 1, 1], "LZF skipped in every stored chunk");
}
