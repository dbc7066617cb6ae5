"""Writes FILE with Python versioned-hdf5: version datasets of several layouts, for the
comparison of the engine's own virtual-layout decoder with libhdf5's
(crates/core/src/h5/vds.rs, tests). Usage: python vds_layouts.py FILE [latest]; with
`latest`, the file takes libhdf5's newest formats (version 2 object headers, version 3
selections, shared names in the mapping list)."""

import sys

import h5py
import numpy as np
from versioned_hdf5 import VersionedHDF5File

libver = ('latest', 'latest') if sys.argv[2:] == ['latest'] else None
with h5py.File(sys.argv[1], 'w', libver=libver) as f:
    vf = VersionedHDF5File(f)
    with vf.stage_version('r0') as g:
        # 1-D with an edge chunk; 2-D with edge chunks on both axes and a fill value;
        # 3-D; strings; an int64 fill value.
        g.create_dataset('a', data=np.arange(1000.0), chunks=(64,), maxshape=(None,))
        g.create_dataset('b', data=np.arange(30 * 17, dtype='i4').reshape(30, 17),
                         chunks=(8, 5), fillvalue=7, maxshape=(None, None))
        g.create_dataset('c/d', data=np.ones((5, 6, 7), dtype='f4'), chunks=(2, 3, 4))
        g.create_dataset('s', data=np.array([b'x', b'yy', b'zzz'], dtype=object),
                         dtype=h5py.string_dtype(), chunks=(2,))
        g.create_dataset('i', data=np.arange(50, dtype='i8'), chunks=(16,), fillvalue=-3)
    with vf.stage_version('r1') as g:
        g['a'][5] = -1.0
        g['b'][0, 0] = 3
        g['a'].resize((1100,))
        g['b'].resize((33, 20))
    with vf.stage_version('r2') as g:
        g['i'][3] = 9
