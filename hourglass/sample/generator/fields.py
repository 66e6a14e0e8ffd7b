"""Vectorised formatting of values into the text a landing file carries.

Every function takes numpy arrays (plus an optional ``missing`` mask) and returns a pyarrow string array in
which a missing value is null; the writer turns nulls into empty fields.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = dt.date(1970, 1, 1)
DAY = 86_400


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def _indices(idx: np.ndarray, missing: np.ndarray | None) -> pa.Array:
    idx = np.asarray(idx, dtype=np.int64)
    if missing is None or not np.any(missing):
        return pa.array(idx)
    return pa.array(idx, mask=np.asarray(missing, dtype=bool))


def pick(labels, idx: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """labels[idx] as a string array (labels: a sequence of str or a pyarrow array)."""
    table = labels if isinstance(labels, pa.Array) else pa.array(list(labels), pa.string())
    return pc.take(table, _indices(idx, missing))


def concat(*parts, sep: str = "") -> pa.Array:
    """Element-wise string concatenation; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, sep)


def integers(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    arr = pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string())
    if missing is not None and np.any(missing):
        arr = pc.if_else(pa.array(np.asarray(missing, dtype=bool)), pa.nulls(len(arr), pa.string()), arr)
    return arr


def fixed_width(chars: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """An (n, w) uint8 matrix of ASCII as a string array, without a per-value step."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    n, w = chars.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64 if (n + 1) * w >= 2**31 else np.int32)
    validity = None
    nulls = 0
    if missing is not None and np.any(missing):
        missing = np.asarray(missing, dtype=bool)
        validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
        nulls = int(missing.sum())
    kind = pa.large_string() if offsets.dtype == np.int64 else pa.string()
    return pa.Array.from_buffers(kind, n, [validity, pa.py_buffer(offsets), pa.py_buffer(chars)], null_count=nulls)


def _digits(out: np.ndarray, col: int, values: np.ndarray, width: int) -> None:
    v = np.asarray(values)
    v = v.astype(np.int32) if len(v) and v.max() < 2**31 and v.min() >= 0 else v.astype(np.int64)
    for k in range(width - 1, -1, -1):
        q = v // 10
        out[:, col + k] = 48 + (v - q * 10)
        v = q


def padded_id_rows(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """(n, len(prefix) + width) ASCII matrix of prefix + zero-padded number (wider numbers keep all digits)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and numbers.max() >= 10**width:
        width = len(str(int(numbers.max())))
    p = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    out = np.empty((len(numbers), len(p) + width), dtype=np.uint8)
    out[:, : len(p)] = p
    _digits(out, len(p), numbers, width)
    return out


def padded_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """prefix + zero-padded number, e.g. C0000001."""
    return fixed_width(padded_id_rows(prefix, numbers, width))


def gather(rows: np.ndarray, idx: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """rows[idx] of a fixed-width ASCII matrix as a string array (null where missing)."""
    idx = np.asarray(idx, dtype=np.int64)
    if missing is not None:
        idx = np.where(missing, 0, idx)
    return fixed_width(rows[idx], missing)


def _date_rows(days: np.ndarray, style: str) -> np.ndarray:
    """(n, 10) ASCII matrix of dates, looked up from a table of the distinct days in range."""
    lo, hi = (int(days.min()), int(days.max())) if len(days) else (0, 0)
    iso = np.datetime_as_string(np.arange(lo, hi + 1).astype("datetime64[D]")).astype("S10")
    table = iso.view(np.uint8).reshape(-1, 10)
    if style != "iso":  # dd-mm-yyyy
        table = table[:, [8, 9, 7, 5, 6, 4, 0, 1, 2, 3]]
    return table[days - lo]


_TIMES: dict[bool, np.ndarray] = {}


def _time_rows(sod: np.ndarray, with_seconds: bool) -> np.ndarray:
    if with_seconds not in _TIMES:
        t = np.arange(DAY)
        cols = [t // 36000, t // 3600 % 10, -1, t // 600 % 6, t // 60 % 10, -1, t % 60 // 10, t % 10]
        table = np.empty((DAY, 8), np.uint8)
        for j, c in enumerate(cols):
            table[:, j] = ord(":") if isinstance(c, int) else 48 + c
        _TIMES[with_seconds] = np.ascontiguousarray(table[:, : 8 if with_seconds else 5])
    return _TIMES[with_seconds][sod]


def dates(days: np.ndarray, style: str = "iso", missing: np.ndarray | None = None) -> pa.Array:
    """Day numbers (days since 1970-01-01) as YYYY-MM-DD (iso) or dd-mm-yyyy (nl)."""
    days = np.asarray(days, dtype=np.int64)
    if missing is not None and len(days):
        missing = np.asarray(missing, dtype=bool)
        days = np.where(missing, days[~missing][0] if (~missing).any() else 0, days)
    return fixed_width(_date_rows(days, style), missing)


def timestamps(seconds: np.ndarray, style: str = "iso", missing: np.ndarray | None = None) -> pa.Array:
    """Seconds since 1970-01-01 (local, naive) as YYYY-MM-DDTHH:MM:SS (iso) or dd-mm-yyyy HH:MM (nl)."""
    seconds = np.asarray(seconds, dtype=np.int64)
    if missing is not None and len(seconds):
        missing = np.asarray(missing, dtype=bool)
        seconds = np.where(missing, seconds[~missing][0] if (~missing).any() else 0, seconds)
    iso = style == "iso"
    out = np.empty((len(seconds), 19 if iso else 16), dtype=np.uint8)
    out[:, :10] = _date_rows(seconds // DAY, style)
    out[:, 10] = ord("T") if iso else ord(" ")
    out[:, 11:] = _time_rows(seconds % DAY, iso)
    return fixed_width(out, missing)


def fixed_point(scaled: np.ndarray, places: int, decimal: str = ".", missing: np.ndarray | None = None) -> pa.Array:
    """Integers scaled by 10**places as decimal text: (1250, 2) -> 12.50 or 12,50."""
    scaled = np.asarray(scaled, dtype=np.int64)
    unit = 10**places
    mag = np.abs(scaled)
    whole = pa.array(mag // unit).cast(pa.string())
    frac = pc.utf8_lpad(pa.array(mag % unit).cast(pa.string()), places, "0")
    text = concat(whole, frac, sep=decimal)
    if np.any(scaled < 0):
        text = pc.if_else(pa.array(scaled < 0), concat("-", text), text)
    if missing is not None and np.any(missing):
        text = pc.if_else(pa.array(np.asarray(missing, dtype=bool)), pa.nulls(len(text), pa.string()), text)
    return text


def booleans(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    return pick(("false", "true"), np.asarray(values, dtype=np.int64), missing)


def replace_at(arr: pa.Array, rows: np.ndarray, values) -> pa.Array:
    """A copy of arr with arr[rows] = values (a sequence of str/None, or a pyarrow array)."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return arr
    new = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    both = pa.concat_arrays([arr.cast(pa.string()), new.cast(pa.string())])
    index = np.arange(len(arr), dtype=np.int64)
    index[rows] = len(arr) + np.arange(len(rows))
    return pc.take(both, pa.array(index))


HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_rows(numbers: np.ndarray, key: int) -> np.ndarray:
    """Opaque, unique 16-character hex ids as an (n, 16) ASCII matrix: a keyed bijection of 64-bit numbers."""
    x = np.asarray(numbers, dtype=np.uint64).copy()
    k = np.uint64(key & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        for mult in (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB):
            x ^= k
            x *= np.uint64(mult)  # odd multiplier: a bijection mod 2**64
            x ^= x >> np.uint64(31)  # xor-shift: a bijection too
    out = np.empty((len(x), 16), dtype=np.uint8)
    for i in range(16):
        out[:, 15 - i] = HEX[((x >> np.uint64(4 * i)) & np.uint64(15)).astype(np.int64)]
    return out


def hex_ids(numbers: np.ndarray, key: int) -> pa.Array:
    return fixed_width(hex_rows(numbers, key))
