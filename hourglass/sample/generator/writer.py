"""Landing files: text columns in, RFC 4180 CSV bytes out, in the contract's encoding and delimiter.

A field is quoted only when it needs it: when it holds the delimiter, a quote, a line break, or leading or
trailing white space (which a reader would otherwise be free to trim). Missing values are empty fields.
Rows are encoded in chunks on a small thread pool (pyarrow releases the GIL) and written in order, so the
output is byte-identical whatever the scheduling.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hourglass.sources import SourceContract

CHUNK_ROWS = 250_000
BOM = b"\xef\xbb\xbf"


def _needs_quotes_pattern(delimiter: str) -> str:
    return r"[" + re.escape(delimiter) + r'"\r\n]|^\s|\s$'


def quote_where_needed(col: pa.Array, delimiter: str) -> pa.Array:
    """Values quoted as the writer would quote them: lets a source quote a small table of distinct values once
    instead of having every row checked (pass the column as not free text then)."""
    needs = pc.match_substring_regex(col, _needs_quotes_pattern(delimiter))
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, col)


def _encode_chunk(columns: list[pa.Array], delimiter: str, pattern: str, check: list[bool]) -> pa.Buffer:
    fields = []
    for col, free_text in zip(columns, check, strict=True):
        col = col.cast(pa.string())
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if free_text:
            needs = pc.match_substring_regex(col, pattern)
            if pc.any(needs).as_py():
                quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
                col = pc.if_else(needs, quoted, col)
        fields.append(col)
    # the line break rides on the last field, which is cheaper than appending it to whole lines
    fields[-1] = pc.binary_join_element_wise(pc.fill_null(fields[-1], ""), "\n", "")
    line = pc.binary_join_element_wise(*fields, delimiter, null_handling="replace", null_replacement="")
    if isinstance(line, pa.ChunkedArray):
        line = line.combine_chunks()
    if len(line) == 0:
        return pa.py_buffer(b"")
    _, offsets_buf, data_buf = line.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=len(line) + 1, offset=line.offset * 4)
    return data_buf.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def write_source(
    path: Path,
    contract: SourceContract,
    columns: dict[str, pa.Array] | Callable[[int, int], dict[str, pa.Array]],
    *,
    n_rows: int | None = None,
    bom: bool = False,
    truncate_last_row: bool = False,
    free_text: tuple[str, ...] = (),
    threads: int = 2,
) -> int:
    """Write one landing file; returns the number of data rows (a truncated last row counts).

    columns is either the text columns, or a function giving the columns of rows [a, b) (with n_rows), so
    that big sources never hold all their text at once. Only the free_text columns are checked value by value
    for quoting; the rest are ids, codes, numbers and dates by construction (tests parse every file and check
    every row's width).
    """
    names = contract.column_names
    if callable(columns):
        if n_rows is None:
            raise ValueError("n_rows is required with a column function")
        build = columns
    else:
        if set(columns) != set(names):
            raise ValueError(f"{contract.name}: columns {sorted(set(columns) ^ set(names))} do not match the contract")
        lengths = {len(columns[n]) for n in names}
        if len(lengths) != 1:
            raise ValueError(f"{contract.name}: columns differ in length: {lengths}")
        n_rows = lengths.pop()
        fixed = columns

        def build(a: int, b: int) -> dict[str, pa.Array]:
            return {n: fixed[n].slice(a, b - a) for n in names}

    delimiter = contract.delimiter
    pattern = _needs_quotes_pattern(delimiter)
    encoding = contract.encoding.lower().replace("_", "-")
    check = [n in free_text for n in names]
    starts = list(range(0, n_rows, CHUNK_ROWS))

    def encode(start: int) -> pa.Buffer:
        cols = build(start, min(start + CHUNK_ROWS, n_rows))
        if set(cols) != set(names):
            raise ValueError(f"{contract.name}: columns {sorted(set(cols) ^ set(names))} do not match the contract")
        raw = _encode_chunk([cols[n] for n in names], delimiter, pattern, check)
        if encoding in ("utf-8", "utf8"):
            return raw
        return pa.py_buffer(memoryview(raw).tobytes().decode("utf-8").encode(encoding))  # strict

    path.parent.mkdir(parents=True, exist_ok=True)
    header = (delimiter.join(names) + "\n").encode(encoding)
    with open(path, "wb") as fh, ThreadPoolExecutor(max_workers=threads) as pool:
        fh.write((BOM if bom else b"") + header)
        pending = None
        # at most a few chunks in flight: the text of a big source never sits in memory all at once
        window = max(2, threads + 1)
        futures = [pool.submit(encode, s) for s in starts[:window]]
        nxt = window
        while futures:
            blob = futures.pop(0).result()
            if nxt < len(starts):
                futures.append(pool.submit(encode, starts[nxt]))
                nxt += 1
            if pending is not None:
                fh.write(pending)
            pending = blob
        if truncate_last_row and pending is not None and pending.size:
            pending = _truncate_last_row(pending.to_pybytes(), delimiter.encode(encoding))
        if pending is not None:
            fh.write(pending)
    return n_rows


def _truncate_last_row(blob: bytes, delimiter: bytes) -> bytes:
    """Cut the last row off in the middle of its second field, without a final newline."""
    body = blob[:-1]
    start = body.rfind(b"\n") + 1
    row = body[start:]
    first = row.index(delimiter)
    second = row.index(delimiter, first + 1)
    keep = first + 1 + max(1, (second - first - 1) // 2)
    return blob[: start + keep]
