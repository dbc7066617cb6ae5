"""Writes a versioned-hdf5 file holding a compound dataset, laid out by hand with h5py
exactly as the format (spec section 1) describes: raw_data with one slot, hash table,
a version group whose dataset is a virtual dataset mapping that slot. Used to test
that compound datasets Python wrote are readable."""
import sys

import h5py
import numpy as np

path = sys.argv[1]
dt = np.dtype([("a", "<i4"), ("b", "<f8"), ("s", "S5"), ("h", "<f2")])
rows = np.array([(1, 0.5, b"ab", 1.5), (-2, 2.25, b"hello", -0.25), (3, -1.0, b"", 65504.0)], dtype=dt)
with h5py.File(path, "w") as f:
    vd = f.create_group("_version_data")
    versions = vd.create_group("versions")
    first = versions.create_group("__first_version__")
    first.attrs["timestamp"] = "2020-01-01 00:00:00.000000+0000"
    versions.attrs["current_version"] = "v1"
    versions.attrs["data_version"] = 4
    g = vd.create_group("rec")
    raw = g.create_dataset("raw_data", shape=(4,), maxshape=(None,), chunks=(4,), dtype=dt)
    raw[0:3] = rows
    raw.attrs["chunks"] = np.array([4], dtype=np.int64)
    ht_dt = np.dtype([("hash", "u1", (32,)), ("shape", "<i8", (2,))])
    ht = g.create_dataset("hash_table", shape=(1,), maxshape=(None,), chunks=(4096,), dtype=ht_dt, compression="lzf")
    ht[0] = (np.zeros(32, dtype="u1"), np.array([0, 3]))
    ht.attrs["largest_index"] = 1
    v1 = versions.create_group("v1")
    v1.attrs["prev_version"] = "__first_version__"
    v1.attrs["timestamp"] = "2020-01-02 00:00:00.000000+0000"
    layout = h5py.VirtualLayout(shape=(3,), dtype=dt)
    layout[0:3] = h5py.VirtualSource(".", "/_version_data/rec/raw_data", shape=(4,))[0:3]
    ds = v1.create_virtual_dataset("rec", layout)
    ds.attrs["raw_data"] = "/_version_data/rec/raw_data"
    ds.attrs["chunks"] = np.array([4], dtype=np.int64)
    v1.attrs["committed"] = True
