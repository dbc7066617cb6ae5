//! Chunk hashing (format spec §2): the edge-trimmed chunk's bytes in C order, then the
//! ASCII shape string of Python's `str(tuple)`. SHA-256 is the format's function;
//! BLAKE3 is this library's default for datasets it creates, recorded on the hash table.

use sha2::Digest;

/// The hash function of one dataset's hash table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// SHA-256, the function of Python versioned-hdf5 (tables without our mark).
    Sha256,
    /// BLAKE3, marked on the table with the [`HASH_ATTR`] attribute.
    Blake3,
}

/// Attribute on `hash_table` that names a non-SHA-256 hash function.
pub const HASH_ATTR: &str = "hash_function";

impl HashKind {
    /// The value written in [`HASH_ATTR`] (`"blake3"`), or the name of SHA-256.
    pub fn name(self) -> &'static str {
        match self {
            HashKind::Sha256 => "sha256",
            HashKind::Blake3 => "blake3",
        }
    }

    /// Parses `"sha256"` / `"blake3"`.
    pub fn parse(s: &str) -> Option<HashKind> {
        match s {
            "sha256" | "sha-256" => Some(HashKind::Sha256),
            "blake3" => Some(HashKind::Blake3),
            _ => None,
        }
    }
}

/// Python's `str(tuple(shape))`: `(5,)`, `(3, 4)`, `()`.
pub fn shape_string(shape: &[u64]) -> String {
    match shape {
        [] => "()".to_string(),
        [a] => format!("({a},)"),
        _ => {
            let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Hash of one chunk given its payload bytes (C order, edge-trimmed) and trimmed shape.
pub fn hash_chunk(kind: HashKind, payload: &[u8], shape: &[u64]) -> [u8; 32] {
    let tail = shape_string(shape);
    match kind {
        HashKind::Sha256 => {
            let mut h = sha2::Sha256::new();
            h.update(payload);
            h.update(tail.as_bytes());
            h.finalize().into()
        }
        HashKind::Blake3 => {
            let mut h = blake3::Hasher::new();
            // Large chunks hash on several threads; small ones stay on this one.
            if payload.len() >= 1 << 20 {
                h.update_rayon(payload);
            } else {
                h.update(payload);
            }
            h.update(tail.as_bytes());
            *h.finalize().as_bytes()
        }
    }
}

/// Payload bytes of a chunk of variable-length strings: for each element its UTF-8
/// length as u64 little-endian, then the bytes.
pub fn string_payload<S: AsRef<[u8]>>(values: &[S]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.iter().map(|v| 8 + v.as_ref().len()).sum());
    for v in values {
        let b = v.as_ref();
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: [u8; 32]) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }
    fn le<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        v.iter().flat_map(|x| f(*x)).collect()
    }

    /// (payload, shape, sha256) — spec §2.4. `BLAKE3_PINNED` pins the same inputs for
    /// this library's default hash.
    fn vectors() -> Vec<(Vec<u8>, Vec<u64>, &'static str)> {
        vec![
            (
                string_payload(&["abcd", "def", "ghi", "jkl"]),
                vec![4],
                "fc24af5cc3148e04ef3acad1937864899cdcad342d01e6fffccd959141afef9f",
            ),
            (
                le(&[0i64, 1, 2, 3], i64::to_le_bytes),
                vec![4],
                "e36896a9e5798eed502c64146f3679675cf847eee9bfbdba8e44ede6c683754f",
            ),
            (
                le(&[1f64, 1.0, 1.0], f64::to_le_bytes),
                vec![3],
                "b341489f4e617989c9c34e8b578baafa278d2ceeb241d9eedd03c2fcd0306dc4",
            ),
            (
                le(&[1i32, 2, 3, 4], i32::to_le_bytes),
                vec![2, 2],
                "971e2bfd7eb69b99041523142d497c0f32b83e0437c89299ad0dac281d863dc6",
            ),
            (
                vec![],
                vec![0, 3],
                "1f1868f06925b61765ed3f845bb2c9d04e2dc1ae4356b7495dcae6bc18ed7150",
            ),
            (
                string_payload(&["a", "b", "cd"]),
                vec![3],
                "e98d51c9f90c9764ec897e064a5dcde763e0d47891d346d14cc24225e02d20e5",
            ),
            (
                string_payload(&["ab", "", "cd"]),
                vec![3],
                "38dfddeb21c999f736ef47a0c10462a1f6b08be252aef9bc0bdb05dbeda0b329",
            ),
            (
                b"abcde\0".to_vec(),
                vec![2],
                "944b1aa912ccc0aa96853fedaf0a6bf56a29cb51abd8f61c7761ffc1b9b63e21",
            ),
            (
                vec![1, 0],
                vec![2],
                "6d0dc2963e706784d0d4860b9aeafe54addb9c9b04d130e035afc5856ba2c10b",
            ),
            (
                vec![0; 4096 * 8],
                vec![4096],
                "63fcff971addd51f8f9aa014162f815c6fc8a0755fbb3816cd0238caad7b7129",
            ),
        ]
    }

    #[test]
    fn shape_strings() {
        assert_eq!(shape_string(&[5]), "(5,)");
        assert_eq!(shape_string(&[3, 4]), "(3, 4)");
        assert_eq!(shape_string(&[2, 20, 2]), "(2, 20, 2)");
        assert_eq!(shape_string(&[0, 3]), "(0, 3)");
    }

    #[test]
    fn sha256_vectors_of_the_spec() {
        for (payload, shape, sha) in vectors() {
            assert_eq!(
                hex(hash_chunk(HashKind::Sha256, &payload, &shape)),
                sha,
                "shape {shape:?}"
            );
        }
    }

    #[test]
    fn blake3_vectors_are_pinned() {
        let got: Vec<String> = vectors()
            .iter()
            .map(|(p, s, _)| hex(hash_chunk(HashKind::Blake3, p, s)))
            .collect();
        assert_eq!(got, BLAKE3_PINNED.to_vec());
        // BLAKE3 is the plain BLAKE3 of payload ‖ shape string.
        let (p, s, _) = &vectors()[1];
        let mut cat = p.clone();
        cat.extend_from_slice(shape_string(s).as_bytes());
        assert_eq!(hex(*blake3::hash(&cat).as_bytes()), got[1]);
    }

    #[test]
    fn multithreaded_blake3_matches_single_threaded() {
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut h = blake3::Hasher::new();
        h.update(&big);
        h.update(b"(3000000,)");
        assert_eq!(
            hash_chunk(HashKind::Blake3, &big, &[3_000_000]),
            *h.finalize().as_bytes()
        );
    }

    const BLAKE3_PINNED: [&str; 10] = [
        "2d22d94d152f00220b54fed49f3f09c336784333d418c5b683986172f0f62bb6",
        "1e007c1091aeb80ceff176c1fda1f0a5ccc87b10315fe7ad6a4b8c8ff335c4f0",
        "f4889808a134431611468b26c39b9a03d30bb58272ae99dac23bd2c3cb2d2b65",
        "2e2f0f50a3f317986ff33d86be178b614eb26c45c75cd300e04f57940b91c809",
        "f5acfa4baa85ead1b132c546a81894cbde63ceb553d97be72d80325e0332a652",
        "6a47a12ad4298a73ddb5d7ece4cbf4e4f52be2668e09d2e72f3308c2c0ecddab",
        "06bcebb1ef67efddb3dc363c1478b239e8fb682053605ef3fb6394cccbde0093",
        "b769c5f9ee2dd0c2208a246ff0a2abcad1b89b5f6b7b5cfd07b105589cd5eb09",
        "f59f515844ed472a0f0ae86217411d890d377d407bdf995193cb8107f087ff50",
        "1c9a7f95613d2390a99fc8d4cb6517eb1396b4dd40f4f96f015f3871b10004e6",
    ];
}
