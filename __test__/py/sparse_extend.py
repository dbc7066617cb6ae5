"""Python half of __test__/interop-sparse.spec.ts: files whose raw_data is longer than
largest_index slots (Python versioned-hdf5 2.4 grows raw_data ahead; sparse datasets
show it), written and extended by whichever versioned-hdf5 runs this script (the
venvs .venv, 2.4.0, and .venv26, 2.6.0).

Usage: python sparse_extend.py COMMAND FILE [NAME]   (prints one JSON document)

Commands
  make FILE          versions v1 (sparse 's', 100 int64 in chunks of 10, s[5] = 7;
                     dense 'd', 30 float64 0..29 in chunks of 10) and v2 (s[15] = 9,
                     d[12] = -1); prints the library version and, per dataset,
                     raw_data's rows and largest_index
  extend FILE NAME   one version NAME over the current one: s[95] = 11, s[5] = 8,
                     d[29] = 100; then as `read`
  read FILE          every version's datasets through versioned-hdf5 (flat lists),
                     and per dataset raw_data's rows and largest_index
"""

import json
import sys

import h5py
import numpy as np

import versioned_hdf5
from versioned_hdf5 import VersionedHDF5File


def storage(f):
    out = {}
    for name in ('s', 'd'):
        g = f['_version_data'][name]
        out[name] = {
            'raw_rows': int(g['raw_data'].shape[0]),
            'largest_index': int(g['hash_table'].attrs['largest_index']),
        }
    return out


def read(path):
    with h5py.File(path, 'r') as f:
        vf = VersionedHDF5File(f)
        versions = {}
        for name in vf.versions:
            if name == '__first_version__':
                continue
            v = vf[name]
            versions[name] = {k: [float(x) for x in np.asarray(v[k][()]).ravel()] for k in ('s', 'd')}
        return {'library': versioned_hdf5.__version__, 'versions': versions, 'storage': storage(f)}


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == 'make':
        with h5py.File(path, 'w') as f:
            vf = VersionedHDF5File(f)
            with vf.stage_version('v1') as g:
                s = g.create_dataset('s', shape=(100,), chunks=(10,), dtype='i8', fillvalue=0)
                s[5] = 7
                g.create_dataset('d', data=np.arange(30, dtype='f8'), chunks=(10,))
            with vf.stage_version('v2') as g:
                g['s'][15] = 9
                g['d'][12] = -1
        with h5py.File(path, 'r') as f:
            print(json.dumps({'library': versioned_hdf5.__version__, 'storage': storage(f)}))
    elif cmd == 'extend':
        with h5py.File(path, 'r+') as f:
            vf = VersionedHDF5File(f)
            with vf.stage_version(sys.argv[3]) as g:
                g['s'][95] = 11
                g['s'][5] = 8
                g['d'][29] = 100
        print(json.dumps(read(path)))
    elif cmd == 'read':
        print(json.dumps(read(path)))
    else:
        raise SystemExit(f'unknown command {cmd}')


if __name__ == '__main__':
    main()
