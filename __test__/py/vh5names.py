"""Shared by the Python halves of the tests: this library's dtype names for NumPy/h5py
dtypes (README 'Dtypes'), and floats as JSON can carry them."""

import math

import h5py
import numpy as np


def dtype_name(dt):
    """'string'/'ascii' (vlen), 'S<n>'/'utf8[<n>]' (fixed), 'compound{a:int32,...}',
    else NumPy's name ('float64', 'int32', 'bool', 'float16', ...)."""
    dt = np.dtype(dt)
    info = h5py.check_string_dtype(dt)
    if info is not None:
        enc = info.encoding.lower().replace('-', '')
        if info.length is None:
            return 'string' if enc == 'utf8' else 'ascii'
        return f'S{info.length}' if enc == 'ascii' else f'utf8[{info.length}]'
    if dt.names is not None:
        fields = ','.join(f'{n}:{dtype_name(dt.fields[n][0])}' for n in dt.names)
        return f'compound{{{fields}}}'
    if dt.kind == 'S':
        return f'S{dt.itemsize}'
    return dt.name


def json_float(f):
    """A float for JSON: NaN and infinities as strings."""
    f = float(f)
    if math.isnan(f):
        return 'NaN'
    if math.isinf(f):
        return 'Infinity' if f > 0 else '-Infinity'
    return f
