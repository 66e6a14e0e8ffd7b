"""Landing files -> lake partitions, checked against the source's contract.

Every file is read as text, then each row is checked column by column. A row that breaks a rule goes to
the quarantine dataset with its reason and its raw fields; a line the CSV reader cannot split (wrong field
count, broken quoting, bad encoding) goes there too. rows in = rows loaded + rows quarantined, always.
A structural problem (no header, a required column missing from it, a column name twice or reserved, a quote
that swallows line breaks, an impossible date in the file name) fails that file's load date with an error
naming the file and the column, never quoting row values; the lake keeps what it had, and the source's other
load dates load.

Three modules:
- load_dates: landing files by load date -> lake partitions, their quarantine and what was loaded from which
  files; its functions are this package's interface, imported here;
- contract_sql: a source contract -> the one DuckDB query that reads a file and checks every row;
- checked_rows: that query's rows, as Arrow batches -> the Parquet rows file, the bad rows kept for the quarantine.
"""

from hourglass.landing.contract_sql import empty_rows_sql
from hourglass.landing.load_dates import (
    QUARANTINE_SCHEMA,
    LandingError,
    LandingFiles,
    LoadResult,
    ensure_not_missing,
    fingerprint,
    landing_files,
    load_date,
    load_source,
)

__all__ = [
    "QUARANTINE_SCHEMA",
    "LandingError",
    "LandingFiles",
    "LoadResult",
    "empty_rows_sql",
    "ensure_not_missing",
    "fingerprint",
    "landing_files",
    "load_date",
    "load_source",
]
