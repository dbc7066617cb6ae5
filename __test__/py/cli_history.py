"""Writes the history the vh5 command-line tests read: Python versioned-hdf5 (whichever
venv runs it), three versions with a branch, numbers, strings, a gzip 2-D dataset and
attributes, at fixed timestamps.

Usage: python cli_history.py FILE   (prints {"versions": [...]} as JSON)
"""

import datetime
import json
import sys

import h5py
import numpy as np
from versioned_hdf5 import VersionedHDF5File

path = sys.argv[1]
utc = datetime.timezone.utc


def at(minute, micro):
    return datetime.datetime(2024, 5, 1, 9, minute, 0, micro, tzinfo=utc)


with h5py.File(path, "w") as f:
    vf = VersionedHDF5File(f)
    with vf.stage_version("v1", timestamp=at(30, 1)) as g:
        g.create_dataset("prices", data=np.arange(10, dtype="f8") + 0.5, chunks=(4,))
        g.create_dataset(
            "grid",
            data=np.arange(12, dtype="i8").reshape(3, 4) - 5,
            chunks=(2, 2),
            compression="gzip",
            compression_opts=3,
            fillvalue=-1,
        )
        g.create_dataset("names", data=np.array(["a", "béta", "c,d"], dtype=object), dtype=h5py.string_dtype(), chunks=(2,))
        g.create_group("meta").attrs["source"] = "feed-a"
    with vf.stage_version("v2", timestamp=at(31, 2)) as g:
        g["prices"][1:3] = [100.0, 200.0]
    with vf.stage_version("v3", prev_version="v1", make_current=False, timestamp=at(32, 3)) as g:
        g["grid"][0, 0] = 99
print(json.dumps({"versions": ["v1", "v2", "v3"]}))
