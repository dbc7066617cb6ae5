"""Rich interop oracle for __test__/interop-rich.spec.ts.

Subcommands (each prints one JSON document on stdout):

  vh5 FILE MODE   Python versioned-hdf5 (VersionedHDF5File over h5py.File(FILE, MODE),
                  MODE 'r' or 'r+') -- run with the interop venv (.venv).
  h5py FILE       plain h5py only, reading every version's (virtual) datasets under
                  _version_data/versions -- run with Debian's python3-h5py.
  write FILE      writes a rich history with Python versioned-hdf5 and prints the
                  model of what it wrote (the source of truth) -- run with the venv.
                  Before printing, it checks that Python versioned-hdf5 itself reads
                  the model back, so the model is known to be what the file holds.
  int64min FILE   a one-version file with int64 -2**63 attributes on the version, a
                  group and a dataset (venv); prints them as h5py reads them back.

Encoding of values (the same on the TypeScript side):
  * floats: JSON numbers, except 'NaN', 'Infinity', '-Infinity' and '-0';
  * integers of 64-bit dtypes (int64/uint64): decimal strings; other integers: numbers;
  * bools: JSON booleans; strings (bytes decoded as UTF-8): JSON strings.
Dataset data is sent run-length encoded, [[value, count], ...] in C order, with equal
adjacent values merged (so each element is compared, and a 1e6-element sparse
dataset stays small). Attributes are {"dtype": name, "array": bool, "value": ...}.
"""

import datetime as dt
import json
import math
import sys

import h5py
import numpy as np

from vh5names import dtype_name, json_float
from vh5storage import data_groups

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
TS_FORMAT = '%Y-%m-%d %H:%M:%S.%f%z'


# ---------------------------------------------------------------------------------
# Encoding



def enc(x, d):
    """One element of dtype d, encoded for JSON."""
    d = np.dtype(d)
    if d.kind == 'f':
        f = float(x)
        if f == 0 and math.copysign(1.0, f) < 0:
            return '-0'
        return json_float(f)
    if d.kind == 'b':
        return bool(x)
    if d.kind in 'iu':
        v = int(x)
        return str(v) if d.itemsize == 8 else v
    if isinstance(x, (bytes, np.bytes_)):
        return bytes(x).decode('utf-8')
    if isinstance(x, (str, np.str_)):
        return str(x)
    raise TypeError(f'cannot encode {x!r} of dtype {d}')


def rle(arr):
    """Run-length encoding of arr (C order) with encoded values."""
    a = np.asarray(arr)
    flat = a.ravel(order='C')
    n = flat.size
    if n == 0:
        return []
    d = a.dtype
    if d.kind in 'fiub':
        # Runs by bit pattern (NaN == NaN, -0 != 0), vectorised.
        key = flat.view(f'u{d.itemsize}') if d.kind in 'fb' else flat
        change = np.flatnonzero(key[1:] != key[:-1]) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [n]])
        runs = [[enc(flat[s], d), int(e - s)] for s, e in zip(starts, ends)]
    else:
        runs = []
        for x in flat.tolist():
            v = enc(x, d)
            if runs and runs[-1][0] == v:
                runs[-1][1] += 1
            else:
                runs.append([v, 1])
    merged = []
    for v, c in runs:
        if merged and merged[-1][0] == v and type(merged[-1][0]) is type(v):
            merged[-1][1] += c
        else:
            merged.append([v, c])
    return merged


def enc_attr(v):
    if isinstance(v, str):
        return {'dtype': 'string', 'array': False, 'value': v}
    if isinstance(v, bytes):
        return {'dtype': 'bytes', 'array': False, 'value': v.decode('utf-8')}
    if isinstance(v, np.ndarray):
        if v.ndim != 1:
            raise TypeError(f'attribute of {v.ndim} dimensions')
        if v.dtype.kind == 'U':
            return {'dtype': 'string', 'array': True, 'value': [str(x) for x in v.tolist()]}
        if v.dtype.kind == 'O':
            vals = [x.decode('utf-8') if isinstance(x, bytes) else str(x) for x in v.tolist()]
            return {'dtype': 'string', 'array': True, 'value': vals}
        if v.dtype.kind == 'S':
            return {'dtype': 'bytes', 'array': True, 'value': [bytes(x).decode('utf-8') for x in v]}
        return {'dtype': v.dtype.name, 'array': True, 'value': [enc(x, v.dtype) for x in v]}
    if isinstance(v, np.generic):
        if isinstance(v, np.bytes_):
            return {'dtype': 'bytes', 'array': False, 'value': bytes(v).decode('utf-8')}
        return {'dtype': v.dtype.name, 'array': False, 'value': enc(v, v.dtype)}
    if isinstance(v, bool):
        return {'dtype': 'bool', 'array': False, 'value': v}
    if isinstance(v, int):
        return {'dtype': 'int64', 'array': False, 'value': str(v)}
    if isinstance(v, float):
        return {'dtype': 'float64', 'array': False, 'value': enc(v, np.float64)}
    raise TypeError(f'unsupported attribute {v!r} ({type(v).__name__})')


RESERVED_VERSION = ('prev_version', 'committed', 'timestamp')
RESERVED_DATASET = ('raw_data', 'chunks')


def split_attrs(attrs, reserved):
    user, res = {}, {}
    for k in sorted(attrs.keys()):
        v = attrs[k]
        if k in reserved:
            res[k] = v
        else:
            user[k] = enc_attr(v)
    return user, res


def text(v):
    return v.decode('utf-8') if isinstance(v, bytes) else str(v)


def opt_int(v):
    return None if v is None else int(v)


def ints(t):
    return None if t is None else [int(x) for x in t]


# ---------------------------------------------------------------------------------
# Readers


def describe_dataset(d, with_fill=True):
    """What a dataset object (h5py or versioned-hdf5) reports about itself."""
    user, res = split_attrs(d.attrs, RESERVED_DATASET)
    dtp = np.dtype(d.dtype)
    is_vlen = h5py.check_string_dtype(dtp) is not None and h5py.check_string_dtype(dtp).length is None
    out = {
        'dtype': dtype_name(dtp),
        'npdtype': dtp.str,
        'shape': [int(n) for n in d.shape],
        'chunks': ints(d.chunks),
        'compression': d.compression,
        'compression_opts': opt_int(d.compression_opts) if not isinstance(d.compression_opts, tuple) else list(d.compression_opts),
        'shuffle': bool(d.shuffle),
        'fletcher32': bool(d.fletcher32),
        'attrs': user,
        'attr_raw_data': text(res['raw_data']) if 'raw_data' in res else None,
        'attr_chunks': ints(res['chunks']) if 'chunks' in res else None,
        'data': rle(d[()]),
    }
    # h5py 3.7 (Debian) segfaults on Dataset.fillvalue of vlen string datasets.
    if with_fill or not is_vlen:
        out['fillvalue'] = enc(d.fillvalue, dtp) if dtp.kind != 'O' else text(d.fillvalue)
    return out


def walk(group, prefix, groups, datasets, with_fill, is_group):
    for name in sorted(group.keys()):
        obj = group[name]
        path = prefix + name
        if is_group(obj):
            user, _ = split_attrs(obj.attrs, ())
            groups[path] = user
            walk(obj, path + '/', groups, datasets, with_fill, is_group)
        else:
            datasets[path] = describe_dataset(obj, with_fill)


def raw_info(f, with_fill):
    """Every data group under _version_data: raw_data's dtype, layout and filters."""
    out = {}
    for path, obj in data_groups(f):
        r = obj['raw_data']
        dtp = r.dtype
        info = h5py.check_string_dtype(dtp)
        e = {
            'dtype': dtype_name(dtp),
            'npdtype': dtp.str,
            'chunks': ints(r.chunks),
            'maxshape': [None if m is None else int(m) for m in r.maxshape],
            'attr_chunks': ints(r.attrs['chunks']),
            'compression': r.compression,
            'compression_opts': opt_int(r.compression_opts),
            'shuffle': bool(r.shuffle),
            'fletcher32': bool(r.fletcher32),
            'largest_index': int(obj['hash_table'].attrs['largest_index']),
        }
        if with_fill or info is None or info.length is not None:
            e['fillvalue'] = enc(r.fillvalue, dtp) if dtp.kind != 'O' else text(r.fillvalue)
        out[path] = e
    return out


def cmd_vh5(path, mode):
    from versioned_hdf5 import VersionedHDF5File

    with h5py.File(path, mode) as f:
        vf = VersionedHDF5File(f)
        result = {
            'mode': mode,
            'versions': list(vf.versions),
            'current_version': text(vf.current_version),
            'data_version': int(vf.data_version_identifier),
            'chain': [],
            'by_timestamp': {},
            'v': {},
            'raw': raw_info(f, True),
        }
        n = 0
        while True:
            try:
                g = vf[-n] if n else vf[0]
            except IndexError:
                break
            result['chain'].append(g.name.rsplit('/', 1)[-1])
            n += 1
        for name in vf.versions:
            g = vf[name]
            user, res = split_attrs(g.attrs, RESERVED_VERSION)
            groups, datasets = {}, {}
            walk(g, '', groups, datasets, True, lambda o: isinstance(o, h5py.Group))
            ts = text(res['timestamp'])
            result['v'][name] = {
                'group_type': type(g).__name__,
                'prev_version': text(res['prev_version']),
                'committed': bool(res['committed']),
                'timestamp': ts,
                'attrs': user,
                'groups': groups,
                'datasets': datasets,
            }
            found = vf.get_version_by_timestamp(dt.datetime.strptime(ts, TS_FORMAT), exact=True)
            result['by_timestamp'][name] = found.name.rsplit('/', 1)[-1]
        vf.close()
    return result


def cmd_h5py(path):
    with h5py.File(path, 'r') as f:
        versions = f['_version_data/versions']
        result = {
            'h5py': h5py.__version__,
            'hdf5': h5py.version.hdf5_version,
            'current_version': text(versions.attrs['current_version']),
            'data_version': int(versions.attrs['data_version']),
            'first_version_attrs': sorted(versions['__first_version__'].attrs.keys()),
            'v': {},
            'raw': raw_info(f, False),
        }
        for name in sorted(versions):
            if name == '__first_version__':
                continue
            g = versions[name]
            user, res = split_attrs(g.attrs, RESERVED_VERSION)
            groups, datasets = {}, {}
            walk(g, '', groups, datasets, False, lambda o: isinstance(o, h5py.Group))
            for p, d in datasets.items():
                d['virtual'] = bool(g[p].is_virtual)
            result['v'][name] = {
                'prev_version': text(res['prev_version']),
                'committed': bool(res['committed']),
                'timestamp': text(res['timestamp']),
                'attrs': user,
                'groups': groups,
                'datasets': datasets,
            }
    return result


# ---------------------------------------------------------------------------------
# Writer: a rich history through Python versioned-hdf5's API, with its own model


class Model:
    """What the writer intends each version to hold (independent of the file)."""

    def __init__(self):
        self.versions = []  # staging order
        self.by_name = {}

    def begin(self, name, prev, ts):
        if prev in (None, '', '__first_version__'):
            prev = ''
            parent = None
        else:
            parent = self.by_name[prev]
        v = {
            'name': name,
            'prev_version': prev if prev else '__first_version__',
            'ts': ts,
            'attrs': {},
            'groups': {k: dict(a) for k, a in parent['groups'].items()} if parent else {},
            'datasets': {k: dict(e, data=e['data'].copy(), attrs=dict(e['attrs'])) for k, e in parent['datasets'].items()} if parent else {},
        }
        self.versions.append(v)
        self.by_name[name] = v
        return v


def full_fill(d, fill):
    return np.full((), fill, dtype=d)[()]


class Stage:
    """Applies each operation both to the staged versioned-hdf5 group and the model."""

    def __init__(self, g, v):
        self.g = g
        self.v = v

    def _parents(self, path):
        parts = path.split('/')[:-1]
        for i in range(1, len(parts) + 1):
            self.v['groups'].setdefault('/'.join(parts[:i]), {})

    def create(self, path, data=None, shape=None, dtype=None, chunks=None, fillvalue=None, **filters):
        kw = {k: v for k, v in filters.items() if v is not None}
        if data is not None:
            data = np.asarray(data, dtype=dtype) if dtype is not None else np.asarray(data)
            d = self.g.create_dataset(path, data=data, dtype=dtype, chunks=chunks, fillvalue=fillvalue, **kw)
            dtp = data.dtype
            arr = data.copy()
        else:
            d = self.g.create_dataset(path, shape=shape, dtype=dtype, chunks=chunks, fillvalue=fillvalue, **kw)
            dtp = np.dtype(dtype)
            arr = np.full(shape, fillvalue if fillvalue is not None else (b'' if dtp.kind in 'SO' else 0), dtype=dtp)
        fill = fillvalue if fillvalue is not None else (b'' if dtp.kind in 'SO' else 0)
        self._parents(path)
        self.v['datasets'][path] = {
            'dtype': dtype_name(dtp),
            'npdtype': dtp,
            'data': arr,
            'chunks': [int(c) for c in d.chunks],
            'fill': full_fill(dtp, fill) if dtp.kind != 'O' else b'',
            'compression': kw.get('compression'),
            'compression_opts': kw.get('compression_opts', 4 if kw.get('compression') == 'gzip' else None),
            'shuffle': bool(kw.get('shuffle', False)),
            'fletcher32': bool(kw.get('fletcher32', False)),
            'attrs': {},
        }
        return d

    def assign(self, path, arr):
        """g[path] = arr: a whole new array (a new path gets h5py's guessed chunks)."""
        arr = np.asarray(arr)
        self.g[path] = arr
        e = self.v['datasets'].get(path)
        if e is None:
            self._parents(path)
            # Decided at commit by h5py's guess_chunk (spec 3.5/3.6); the self-check
            # confirms it against the file.
            from h5py._hl.filters import guess_chunk
            chunks = [int(c) for c in guess_chunk(arr.shape, None, arr.dtype.itemsize)]
            self.v['datasets'][path] = {
                'dtype': dtype_name(arr.dtype), 'npdtype': arr.dtype, 'data': arr.copy(), 'chunks': chunks,
                'fill': full_fill(arr.dtype, 0), 'compression': None, 'compression_opts': None,
                'shuffle': False, 'fletcher32': False, 'attrs': {},
            }
        else:
            e['data'] = arr.astype(e['npdtype']).copy()

    def write(self, path, index, value):
        self.g[path][index] = value
        e = self.v['datasets'][path]
        e['data'][index] = value

    def resize(self, path, shape):
        self.g[path].resize(shape)
        e = self.v['datasets'][path]
        old = e['data']
        new = np.full(shape, e['fill'], dtype=e['npdtype'])
        box = tuple(slice(0, min(a, b)) for a, b in zip(old.shape, shape))
        new[box] = old[box]
        e['data'] = new

    def delete(self, path):
        del self.g[path]
        self.v['datasets'].pop(path, None)
        for k in list(self.v['groups']):
            if k == path or k.startswith(path + '/'):
                del self.v['groups'][k]
        for k in list(self.v['datasets']):
            if k.startswith(path + '/'):
                del self.v['datasets'][k]

    def group(self, path):
        grp = self.g.create_group(path)
        self._parents(path + '/x')
        return grp

    def vattr(self, k, val):
        self.g.attrs[k] = val
        self.v['attrs'][k] = val

    def gattr(self, path, k, val):
        self.g[path].attrs[k] = val
        self.v['groups'][path][k] = val

    def dattr(self, path, k, val):
        self.g[path].attrs[k] = val
        self.v['datasets'][path]['attrs'][k] = val

    def ddel_attr(self, path, k):
        del self.g[path].attrs[k]
        del self.v['datasets'][path]['attrs'][k]


def ts_of(i):
    """Increasing, microsecond-precise UTC timestamps."""
    return dt.datetime(2023, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=3601 * i, microseconds=12347 * i + 1)


def micros(t):
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def build(path):
    from versioned_hdf5 import VersionedHDF5File

    m = Model()
    s_vlen = h5py.string_dtype()
    s_ascii = h5py.string_dtype('ascii')
    s_u10 = h5py.string_dtype('utf-8', 10)
    with h5py.File(path, 'w') as f:
        vf = VersionedHDF5File(f)
        step = [0]

        def stage(name, prev=None, make_current=True):
            step[0] += 1
            t = ts_of(step[0])
            v = m.begin(name, vf.current_version if prev is None else prev, t)

            class Ctx:
                def __enter__(self_inner):
                    self_inner.cm = vf.stage_version(name, prev_version=prev, make_current=make_current, timestamp=t)
                    g = self_inner.cm.__enter__()
                    return Stage(g, v)

                def __exit__(self_inner, *exc):
                    return self_inner.cm.__exit__(*exc)

            return Ctx()

        with stage('p01') as s:
            s.create('num/i8', data=np.array([-128, -1, 0, 1, 127, 5, -5, 42, -42, 100], dtype='i1'), chunks=(4,), fillvalue=-5)
            s.create('num/i16', data=np.array([-32768, 32767, 0, -1, 1234, -1234, 7], dtype='<i2'), chunks=(3,), fillvalue=11)
            s.create('num/i32', data=np.array([-2**31, 2**31 - 1, 0, 65536, -65536], dtype='<i4'), chunks=(2,))
            s.create('num/i64', data=np.array([-2**63, 2**63 - 1, 0, 2**53 + 1, -(2**53) - 1, 9], dtype='<i8'), chunks=(4,), fillvalue=-2**62 - 3)
            s.create('num/u8', data=np.array([0, 255, 128, 1], dtype='u1'), chunks=(3,), fillvalue=200)
            s.create('num/u16', data=np.array([0, 65535, 256, 3], dtype='<u2'), chunks=(3,))
            s.create('num/u32', data=np.array([0, 2**32 - 1, 2**31, 17], dtype='<u4'), chunks=(3,), fillvalue=2**32 - 2)
            s.create('num/u64', data=np.array([0, 2**64 - 1, 2**63, 2**53 + 1], dtype='<u8'), chunks=(3,), fillvalue=2**64 - 1)
            s.create('num/f16', data=np.array([0.5, -2, 65504, 1 / 3, np.nan, np.inf, -np.inf, -0.0, 6e-8], dtype='<f2'), chunks=(4,), fillvalue=np.float16(2.5))
            s.create('num/f32', data=np.array([1.1, -0.0, np.nan, np.inf, 3.4e38, 1e-45], dtype='<f4'), chunks=(4,), fillvalue=np.nan)
            s.create('num/f64', data=np.array([0.1, -0.0, np.nan, -np.inf, 1.7976931348623157e308, 5e-324, 1 / 3], dtype='<f8'), chunks=(3,), fillvalue=-np.inf)
            s.create('flags', data=np.array([True, False, False, True, True], dtype=bool), chunks=(2,), fillvalue=True)
            s.create('txt/vlen', data=np.array(['héllo', '', 'wörld ✓', 'x' * 40, '日本語'], dtype=object), dtype=s_vlen, chunks=(2,))
            s.create('txt/ascii', data=np.array([b'abc', b'', b'de f', b'~!'], dtype=object), dtype=s_ascii, chunks=(3,))
            # No fill value: Python versioned-hdf5 2.4 with h5py 3.16 refuses a non-default
            # one for S<n> at commit ("Non-default fillvalue not supported for variable
            # length strings": h5py tags the fixed-length raw_data dtype with an encoding).
            s.create('txt/S6', data=np.array([b'abcdef', b'ab', b'', b'xyz'], dtype='S6'), chunks=(2,))
            s.create('txt/u10', data=np.array(['ünï'.encode(), b'plain', 'ab€'.encode()], dtype=s_u10), chunks=(2,))
            s.create('grid/m', data=np.arange(48, dtype='<f8').reshape(6, 8) / 4, chunks=(4, 3), compression='gzip', compression_opts=9, shuffle=True)
            s.create('grid/cube', data=np.arange(60, dtype='<i2').reshape(5, 4, 3) - 30, chunks=(2, 2, 2), compression='lzf')
            s.create('cks/f32', data=np.linspace(0, 1, 9, dtype='<f4'), chunks=(4,), fletcher32=True)
            s.create('cks/all', data=np.arange(20, dtype='<u4') * 1000, chunks=(8,), compression='gzip', shuffle=True, fletcher32=True)
            s.create('sparse/big', shape=(500_000,), dtype='<f8', chunks=(1000,), fillvalue=-1.0)
            s.create('sparse/plane', shape=(300, 400), dtype='<i4', chunks=(50, 64), fillvalue=9)
            s.assign('assigned', np.arange(100, dtype='<f8') * 1.5)
            s.group('meta/deep/empty')
            s.gattr('meta', 'owner', 'python')
            s.gattr('meta/deep', 'level', np.int32(2))
            s.gattr('num', 'note', 'numbers')
            s.dattr('num/i8', 'unit', 'm/s')
            s.dattr('num/i8', 'scale', 0.25)
            s.dattr('num/f16', 'half', np.float16(-0.5))
            s.dattr('num/f32', 'single', np.float32(1.25))
            s.dattr('grid/m', 'axes', ['row', 'col'])
            s.dattr('grid/m', 'origin', np.array([0.5, -1.5]))
            s.vattr('author', 'py')
            s.vattr('n', 1)
            s.vattr('f', 2.5)
            s.vattr('nan', float('nan'))
            s.vattr('inf', float('-inf'))
            s.vattr('flag', True)
            s.vattr('big', np.int64(-2**63 + 1))  # -2**63 itself: the 'int64min' subcommand
            s.vattr('ubig', np.uint64(2**64 - 1))
            s.vattr('i8', np.int8(-7))
            s.vattr('u32', np.uint32(4000000000))
            s.vattr('f32', np.float32(0.5))
            s.vattr('f16', np.float16(1.5))
            s.vattr('f16s', np.array([0.25, -2.75], dtype='<f2'))
            s.vattr('bytes', np.bytes_(b'raw bytes'))  # a fixed-length (S9) attribute
            s.vattr('ints', np.array([1, -2, 3], dtype='<i4'))
            s.vattr('bigs', np.array([2**62, -2**62], dtype='<i8'))
            s.vattr('floats', np.array([0.5, np.nan, np.inf]))
            s.vattr('bools', np.array([True, False, True]))
            s.vattr('strs', ['a', 'ünï', ''])

        with stage('p02') as s:
            s.write('num/i8', slice(0, 3), np.array([9, 8, 7], dtype='i1'))
            s.write('num/i64', 5, -1)
            s.write('num/u64', slice(2, 4), np.array([7, 2**64 - 2], dtype='<u8'))
            s.write('num/f16', slice(0, 2), np.array([0.1, 2049], dtype='<f2'))
            s.write('num/f64', 0, np.nan)
            s.write('flags', [1, 3], False)
            s.vattr('n', 2)

        with stage('p03') as s:
            s.resize('grid/m', (9, 11))
            s.write('grid/m', (slice(6, 9), slice(8, 11)), np.full((3, 3), 7.25))
            s.resize('num/i16', (12,))
            s.write('num/i16', 10, -7)
            s.dattr('grid/m', 'resized', True)

        with stage('p04') as s:
            s.resize('grid/m', (5, 7))
            s.resize('grid/cube', (5, 4, 5))
            s.write('grid/cube', (slice(None), 0, 4), np.arange(5, dtype='<i2') * 100)

        with stage('p05') as s:
            s.write('sparse/big', 5, 3.5)
            s.write('sparse/big', 499_999, -0.0)
            s.write('sparse/plane', (slice(60, 70), slice(100, 102)), np.arange(20, dtype='<i4').reshape(10, 2))
            s.write('sparse/plane', (299, 399), -1)
            s.vattr('stage', 'sparse')

        with stage('p06') as s:
            s.resize('txt/vlen', (8,))
            s.write('txt/vlen', 6, 'neu ñ')
            s.write('txt/S6', slice(1, 3), np.array([b'toolongvalue', b'q'], dtype='S12'))
            s.resize('txt/S6', (7,))
            s.write('txt/u10', 0, 'ça'.encode())
            s.resize('txt/ascii', (2,))

        with stage('p07') as s:
            s.delete('cks/f32')
            s.group('extra/deep/grp')
            s.gattr('extra/deep/grp', 'tags', ['x', 'y'])
            s.gattr('extra', 'count', np.int64(3))
            s.gattr('meta', 'owner', 'python-2')

        # A branch from p05, not made current, then a child of it.
        with stage('pb1', prev='p05', make_current=False) as s:
            s.write('num/i8', 9, -99)
            s.write('grid/m', (0, 0), -1.0)
            s.assign('branch_only', np.array([1, 2, 3], dtype='<i4'))
            s.vattr('branch', True)

        with stage('pb2', prev='pb1', make_current=False) as s:
            s.resize('branch_only', (5,))
            s.write('branch_only', 4, 44)

        with stage('p08') as s:
            s.create('cks/f32', data=np.array([2.5, -1, 0], dtype='<f4'), chunks=(4,), fletcher32=True)
            s.write('sparse/big', slice(250_000, 250_010), np.arange(10, dtype='<f8'))

        with stage('p09') as s:
            s.assign('assigned', np.arange(150, dtype='<f8') - 0.5)
            s.dattr('assigned', 'kind', 'replaced')

        with stage('p10') as s:
            s.write('num/u16', [3, 0], np.array([11, 22], dtype='<u2'))
            s.write('num/i32', [4, 1, 2], np.array([-1, -2, -3], dtype='<i4'))
            s.write('grid/cube', (slice(0, 5, 2), slice(None), 1), np.full((3, 4), -9, dtype='<i2'))

        with stage('p11') as s:
            s.resize('sparse/big', (400_000,))
            s.resize('sparse/plane', (300, 450))
            s.write('sparse/plane', (0, 449), 5)

        with stage('p12') as s:
            s.gattr('meta/deep', 'level', np.int32(3))
            s.gattr('meta/deep/empty', 'still', 'empty')
            s.delete('extra/deep')

        with stage('p13') as s:
            s.ddel_attr('num/i8', 'scale')
            s.dattr('num/i8', 'unit', 'km/h')
            s.dattr('cks/all', 'range', np.array([0, 19000], dtype='<u4'))

        with stage('p14') as s:
            s.write('cks/all', slice(0, 20, 5), np.array([1, 2, 3, 4], dtype='<u4'))
            s.resize('cks/all', (30,))

        with stage('p15') as s:
            # Not the whole dataset: Python 2.4 then fails its own commit with
            # "fillvalues do not match (nan != nan)" for a NaN fill value.
            s.write('num/f32', slice(1, None), np.float32(0.75))
            s.resize('flags', (9,))

        with stage('p16') as s:
            s.resize('grid/m', (8, 3))
            s.write('grid/m', (7, slice(None)), np.array([1.0, 2.0, 3.0]))

        with stage('p17') as s:
            s.write('num/u8', 1, 0)
            s.write('num/u32', slice(0, 2), np.array([5, 6], dtype='<u4'))
            s.resize('num/u32', (3,))

        with stage('p18') as s:
            s.write('txt/vlen', slice(0, 2), np.array(['A', 'B'], dtype=object))
            s.vattr('n', 18)

        with stage('p19') as s:
            s.resize('sparse/big', (600_000,))
            s.write('sparse/big', 599_999, 1e300)

        with stage('p20') as s:
            s.write('num/i64', 0, 123456789012345678)
            s.vattr('last', 'yes')

        # A second root (no parent), not made current.
        with stage('pr', prev='', make_current=False) as s:
            s.create('num/i8', data=np.array([1, 2], dtype='i1'), chunks=(4,), fillvalue=-5)
            s.create('lonely', data=np.array([0.5], dtype='<f8'), chunks=(2,))
            s.vattr('root', 'second')

        vf.current_version = 'p18'
        vf.close()
    return m, 'p18'


def model_json(m, current):
    out = {'current_version': current, 'versions': []}
    for v in m.versions:
        ds = {}
        for p, e in sorted(v['datasets'].items()):
            ds[p] = {
                'dtype': e['dtype'],
                'shape': [int(n) for n in e['data'].shape],
                'chunks': e['chunks'],
                'fillvalue': enc(e['fill'], e['npdtype']) if e['npdtype'].kind != 'O' else '',
                'compression': e['compression'],
                'compression_opts': e['compression_opts'],
                'shuffle': e['shuffle'],
                'fletcher32': e['fletcher32'],
                'attrs': {k: enc_attr(np.asarray(a) if isinstance(a, list) else a) for k, a in sorted(e['attrs'].items())},
                'data': rle(e['data']),
            }
        out['versions'].append({
            'name': v['name'],
            'prev_version': v['prev_version'],
            'timestamp_us': str(micros(v['ts'])),
            'timestamp': v['ts'].strftime(TS_FORMAT),
            'attrs': {k: enc_attr(np.asarray(a) if isinstance(a, list) else a) for k, a in sorted(v['attrs'].items())},
            'groups': {g: {k: enc_attr(np.asarray(a) if isinstance(a, list) else a) for k, a in sorted(at.items())} for g, at in sorted(v['groups'].items())},
            'datasets': ds,
        })
    return out


def self_check(path, model):
    """Python versioned-hdf5 must read back exactly the model (so the model is the file)."""
    seen = cmd_vh5(path, 'r')
    problems = []

    def expect(what, a, b):
        if a != b:
            problems.append(f'{what}: read {a!r}, model {b!r}')

    expect('current_version', seen['current_version'], model['current_version'])
    expect('versions', sorted(seen['versions']), sorted(v['name'] for v in model['versions']))
    for v in model['versions']:
        s = seen['v'][v['name']]
        expect(f"{v['name']} prev", s['prev_version'], v['prev_version'])
        expect(f"{v['name']} timestamp", s['timestamp'], v['timestamp'])
        expect(f"{v['name']} attrs", s['attrs'], v['attrs'])
        expect(f"{v['name']} groups", s['groups'], v['groups'])
        expect(f"{v['name']} dataset paths", sorted(s['datasets']), sorted(v['datasets']))
        for p, d in v['datasets'].items():
            r = s['datasets'].get(p)
            if r is None:
                continue
            for k in ('dtype', 'shape', 'fillvalue', 'attrs', 'data'):
                expect(f"{v['name']}/{p} {k}", r[k], d[k])
            expect(f"{v['name']}/{p} chunks", r['attr_chunks'], d['chunks'])
            raw = seen['raw'][p]
            for k in ('compression', 'compression_opts', 'shuffle', 'fletcher32'):
                expect(f"{p} raw {k}", raw[k], d[k])
    if problems:
        sys.exit('the writer model disagrees with what Python versioned-hdf5 reads back:\n' + '\n'.join(problems[:50]))


def cmd_int64min(path):
    """A one-version file whose version, group and dataset carry int64 -2**63 attributes."""
    from versioned_hdf5 import VersionedHDF5File

    lo = np.int64(-2**63)
    with h5py.File(path, 'w') as f:
        vf = VersionedHDF5File(f)
        with vf.stage_version('v1', timestamp=ts_of(1)) as g:
            g.create_dataset('d', data=np.array([1.0]), chunks=(4,))
            g.create_group('grp').attrs['min'] = lo
            g['d'].attrs['min'] = lo
            g.attrs['min'] = lo
            g.attrs['arr'] = np.array([lo, 1], dtype='<i8')
    with h5py.File(path, 'r') as f:
        v = f['_version_data/versions/v1']
        return {k: enc_attr(o.attrs[k]) for o, k in ((v, 'min'), (v, 'arr'))} | {
            'grp.min': enc_attr(v['grp'].attrs['min']), 'd.min': enc_attr(v['d'].attrs['min'])}


def cmd_write(path):
    m, current = build(path)
    model = model_json(m, current)
    self_check(path, model)
    return model


def main(argv):
    if len(argv) >= 3 and argv[1] == 'vh5':
        out = cmd_vh5(argv[2], argv[3])
    elif len(argv) >= 3 and argv[1] == 'h5py':
        out = cmd_h5py(argv[2])
    elif len(argv) >= 3 and argv[1] == 'write':
        out = cmd_write(argv[2])
    elif len(argv) >= 3 and argv[1] == 'int64min':
        out = cmd_int64min(argv[2])
    else:
        sys.exit('usage: interop_rich.py vh5 FILE r|r+ | h5py FILE | write FILE | int64min FILE')
    json.dump(out, sys.stdout, allow_nan=False)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main(sys.argv)
