"""Checked rows -> the rows file: good rows to Parquet as they arrive, bad ones kept for the quarantine.

DuckDB hands the checked rows over as Arrow batches. The next batch is fetched in a thread while this one is
handled, and each row group is encoded and compressed in another while the next is gathered, so the query
never waits for the writer. pyarrow writes the file, not DuckDB's COPY: here it is the faster of the two.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hourglass import lake
from hourglass.landing.contract_sql import RAW_FIELDS, RAW_LINE, REASON, REPEATED, ROW
from hourglass.sources import Column, SourceContract

_BATCH_ROWS = 262_144  # rows per Arrow batch DuckDB hands over (at most)
_ROW_GROUP_ROWS = 1_048_576  # pyarrow's default row group size
# The bad rows kept for the quarantine: row number, reason, raw line and raw fields.
BAD_SCHEMA = pa.schema(
    [
        (ROW, pa.int64()),
        (REASON, pa.string()),
        (RAW_LINE, pa.string()),
        (RAW_FIELDS, pa.map_(pa.string(), pa.string())),
    ]
)


@dataclass
class Written:
    """What write_rows leaves: the bad rows (BAD_SCHEMA) and how many rows it wrote."""

    loaded: int = 0
    bad: list[pa.RecordBatch] = field(default_factory=list)


def write_rows(
    checked: duckdb.DuckDBPyRelation,
    rows_out: Path,
    file_name: str,
    key: list[Column],
    contract: SourceContract,
    numbered: bool,
) -> Written:
    """The check query's good rows to the rows file, batch by batch; bad ones kept with their row number, reason
    and raw line.

    Rows the query has not `numbered` are numbered here as they arrive (check_query, keeps_file_order).

    Rows whose key hash repeats (where `key`, the key columns, is given) are held back until every batch is in;
    then the first of each key, by row number, is written after the others and the later ones quarantined.
    """
    written, pending, held = Written(), [], []
    with checked.to_arrow_reader(_BATCH_ROWS) as reader, closing(_read_ahead(reader)) as batches:
        names = [n for n in reader.schema.names if n not in (ROW, REASON, REPEATED, RAW_LINE, RAW_FIELDS)]
        fields = [reader.schema.field(n) for n in names] + [pa.field(lake.SOURCE_FILE_COLUMN, pa.string())]
        schema, numbered_at, counted = pa.schema(fields), reader.schema.get_field_index(ROW), 0

        def keep(rows: pa.RecordBatch, reason: pa.Array) -> None:
            good = pc.is_null(reason)
            loaded = rows.select(names).filter(good)
            source = pa.repeat(pa.scalar(file_name, pa.string()), loaded.num_rows)
            pending.append(pa.RecordBatch.from_arrays([*loaded.columns, source], schema=schema))
            written.loaded += loaded.num_rows
            bad = {name: rows.column(name) for name in BAD_SCHEMA.names} | {REASON: reason}
            written.bad.append(pa.record_batch(bad, schema=BAD_SCHEMA).filter(pc.invert(good)))

        with pq.ParquetWriter(rows_out, schema) as parquet, _row_groups_in_thread(parquet) as out:
            for batch in batches:
                if not numbered:  # the rows come in file order (keeps_file_order): numbered as they arrive
                    numbers = pa.array(np.arange(counted + 1, counted + 1 + batch.num_rows, dtype=np.int64))
                    batch = batch.set_column(numbered_at, ROW, numbers)
                counted += batch.num_rows
                repeated = batch.column(REPEATED)
                if key:
                    held.append(batch.filter(repeated))
                    batch = batch.filter(pc.invert(repeated))
                keep(batch, batch.column(REASON))
                if sum(b.num_rows for b in pending) >= _ROW_GROUP_ROWS:
                    _write_row_group(out, pending)
            if held:
                candidates = pa.concat_batches(held).sort_by(ROW)
                keep(candidates, _first_occurrences(candidates, [c.name for c in key], contract))
            _write_row_group(out, pending)
    return written


def _read_ahead(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The reader's batches, each next one fetched in a thread: DuckDB checks it while this one is written."""
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_next_batch, reader)
        while (batch := pending.result()) is not None:
            pending = pool.submit(_next_batch, reader)
            yield batch


def _next_batch(reader: pa.RecordBatchReader) -> pa.RecordBatch | None:
    """The next batch, or None at the end; DuckDB's errors come through Arrow as OSError and are given back."""
    try:
        return reader.read_next_batch()
    except StopIteration:
        return None
    except OSError as exc:
        if str(exc).startswith("Invalid Input Error"):
            raise duckdb.InvalidInputException(str(exc)) from exc
        raise


class _RowGroupWriter:
    """Writes row groups in a thread of its own, one at a time, while the caller gathers the next one."""

    def __init__(self, out: pq.ParquetWriter, pool: ThreadPoolExecutor) -> None:
        self.out, self.pool, self.writing = out, pool, None

    def write(self, table: pa.Table) -> None:
        self.wait()
        self.writing = self.pool.submit(self.out.write_table, table, row_group_size=table.num_rows)

    def wait(self) -> None:
        """Until the row group being written is written; its error, if any, is raised here."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.result()


@contextmanager
def _row_groups_in_thread(out: pq.ParquetWriter) -> Iterator[_RowGroupWriter]:
    """A writer of row groups that encodes and compresses one while DuckDB checks the rows of the next.

    Written in the caller's thread, each row group stalled the query: it had handed over its batch and waited
    to be asked for the next. The last one is written before this returns, so the file can be closed.
    """
    with ThreadPoolExecutor(1) as pool:
        writer = _RowGroupWriter(out, pool)
        try:
            yield writer
        finally:
            writer.wait()


def _write_row_group(out: _RowGroupWriter, batches: list[pa.RecordBatch]) -> None:
    """The batches as one row group (DuckDB's batches are small, and many row groups write slower); empties the list."""
    table = pa.Table.from_batches(batches, schema=out.out.schema)
    if table.num_rows:
        out.write(table)
    batches.clear()


def _first_occurrences(rows: pa.RecordBatch, key: list[str], contract: SourceContract) -> pa.Array:
    """REASON, with "duplicate" for each row (in row-number order) whose key came before and that has no reason yet."""
    seen, later = set(), np.zeros(rows.num_rows, dtype=bool)
    for i, row in enumerate(rows.select(key).to_pylist()):
        value = tuple(row.values())
        later[i] = value in seen
        seen.add(value)
    duplicate = f"duplicate of an earlier {'/'.join(contract.key)}"
    reason = rows.column(REASON)
    return pc.if_else(pc.and_(pa.array(later), pc.is_null(reason)), duplicate, reason)
