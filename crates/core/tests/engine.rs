//! End-to-end tests of the engine on real files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use vh5::{AxisSel, CreateOptions, Dtype, Mode, StageOptions, Values, VersionedFile};

fn f64s(v: &[f64]) -> Values {
    Values::Raw(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}
fn to_f64(b: &Values) -> Vec<f64> {
    let Values::Raw(b) = b else {
        panic!("strings where numbers were expected")
    };
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn raw_slots(path: &str, ds: &str, c0: u64) -> u64 {
    let f = hdf5::File::open(path).unwrap();
    let d = f.dataset(&format!("_version_data/{ds}/raw_data")).unwrap();
    d.shape()[0] as u64 / c0
}

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
    assert_eq!(raw_slots(path, "g/x", 10), 3);
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
    assert_eq!(raw_slots(path, "g/x", 10), 4);
    // Rewriting identical data adds nothing.
    let s = vf.stage("v3", StageOptions::default()).unwrap();
    s.write("g/x", &[], &f64s(&data)).unwrap();
    s.commit().unwrap();
    assert_eq!(raw_slots(path, "g/x", 10), 4);
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
