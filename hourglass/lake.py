"""The Parquet lake: one dataset per source, one folder per load date, replaced whole.

A partition is written into a hidden staging folder and swapped in by rename, so readers (which glob
`load_date=*`) see either the old partition or the new one, never half of one, and a killed load leaves
the previous data in place.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hourglass import settings

# Columns the lake adds beside a source's own: the partition column readers get from the folder names
# (hive partitioning) and each row's landing file (lineage). A source column may not take either name.
PARTITION_COLUMN = "load_date"
SOURCE_FILE_COLUMN = "_source_file"
# The partition of a table that must exist before anything was delivered (the receipts, a quarantine): before
# any real load date, so a real one never replaces it.
STUB_DAY = date(1970, 1, 1)


def raw_dataset(source: str) -> Path:
    return settings.lake_dir() / "raw" / source


def quarantine_dataset(source: str) -> Path:
    return settings.lake_dir() / "quarantine" / source


def partition_dir(dataset: Path, load_date: date) -> Path:
    return dataset / f"{PARTITION_COLUMN}={load_date.isoformat()}"


def files_glob(dataset: Path) -> str:
    """Every Parquet file of a dataset, all load dates: what read_parquet takes."""
    return str(dataset / f"{PARTITION_COLUMN}=*" / "*.parquet")


def has_files(dataset: Path) -> bool:
    """read_parquet fails on a glob that matches nothing: ask first."""
    return any(dataset.glob(f"{PARTITION_COLUMN}=*/*.parquet"))


def ensure_table(dataset: Path, day: date, empty: pa.Table) -> None:
    """A source that has delivered nothing yet is a zero-row table downstream, not a missing one: when the
    dataset has no files, write `empty` (no rows, the source's columns and types) as the partition of `day`."""
    if has_files(dataset):
        return
    with replacing_partitions([dataset], day) as (staging,):
        pq.write_table(empty, staging / "empty.parquet")


def row_count(dataset: Path) -> int:
    """Rows over all load dates of a dataset; 0 for one that has no files yet."""
    if not has_files(dataset):
        return 0
    return duckdb.sql(f"select count(*) from read_parquet('{files_glob(dataset)}')").fetchall()[0][0]


def raw_glob(source: str) -> str:
    return files_glob(raw_dataset(source))


def recover(dataset: Path) -> None:
    """Undo what a killed swap left behind: restore a partition whose replacement never arrived."""
    if not dataset.exists():
        return
    for leftover in dataset.glob(".old-*"):
        final = dataset / leftover.name.split("-", 2)[2]
        if final.exists():
            shutil.rmtree(leftover)
        else:
            leftover.rename(final)
    for staging in dataset.glob(".tmp-*"):
        shutil.rmtree(staging)


@contextmanager
def replacing_partitions(datasets: list[Path], load_date: date) -> Iterator[list[Path]]:
    """Yield empty staging folders, one per dataset; on success swap each in for its partition.

    Several datasets (rows and their quarantine) are swapped together after all were written, so an error
    while writing any of them changes none.
    """
    token = uuid.uuid4().hex[:8]
    stagings = []
    for dataset in datasets:
        dataset.mkdir(parents=True, exist_ok=True)
        recover(dataset)
        staging = dataset / f".tmp-{token}"
        staging.mkdir()
        stagings.append(staging)
    try:
        yield stagings
    except BaseException:
        for staging in stagings:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    # Swapped last to first: the first dataset (the rows, with the loader's _files.json) arrives last, so a
    # process killed between two swaps never leaves a complete-looking load whose quarantine is missing.
    for dataset, staging in reversed(list(zip(datasets, stagings, strict=True))):
        final = partition_dir(dataset, load_date)
        old = dataset / f".old-{token}-{final.name}"
        if final.exists():
            final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
