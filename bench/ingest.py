"""CSV -> lake: rows/s per source through the contract-checked loader (the ingest assets' code path).

    python -m bench.ingest --customers 100000 --repeats 3
    python -m bench.ingest --customers 1000000 --repeats 3 --sources erp_orders,esp_events

The data set is generated once per scale under --root and reused; each source is loaded --repeats times
(force=True, so every run re-reads and re-writes) and the median is reported. Beside it, the floor: DuckDB
copying the same file to Parquet with no checks at all, measured in the same run.
"""

import argparse
import os
import tempfile
from pathlib import Path

from bench.common import dataset, median_seconds, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "hourglass-bench")
    parser.add_argument("--sources", help="comma-separated source names (default: every source)")
    args = parser.parse_args()

    landing = dataset(args.root, args.customers, args.seed)
    os.environ["HOURGLASS_HOME"] = str(landing.parent)
    from hourglass import landing as loader
    from hourglass.sources import CONTRACTS

    names = args.sources.split(",") if args.sources else list(CONTRACTS)
    unknown = sorted(set(names) - set(CONTRACTS))
    if unknown:
        parser.error(f"unknown source(s): {', '.join(unknown)}")
    rows = []
    for name in names:
        contract = CONTRACTS[name]
        seconds, results = median_seconds(lambda c=contract: loader.load_source(c, force=True), args.repeats)
        files = [landing / name / f for r in results for f in r.files]
        floor, _ = median_seconds(lambda fs=files, c=contract: copy_without_checks(fs, c), args.repeats)
        rows_in = sum(r.rows_in for r in results)
        mib = sum(f.stat().st_size for f in files) / 2**20
        rows.append([name, rows_in, f"{mib:,.1f}", f"{seconds:.2f}", rows_in / seconds, f"{floor:.2f}",
                     f"{seconds / floor:.1f}x"])  # fmt: skip
    total_rows = sum(r[1] for r in rows)
    total_seconds = sum(float(r[3]) for r in rows)
    total_floor = sum(float(r[5]) for r in rows)
    label = "these sources" if args.sources else "all sources"
    rows.append([label, total_rows, "", f"{total_seconds:.2f}", total_rows / total_seconds,
                 f"{total_floor:.2f}", f"{total_seconds / total_floor:.1f}x"])  # fmt: skip
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"CSV -> lake at {args.customers:,} customers, median of {args.repeats} run(s), {os.cpu_count()} cores, "
          f"load average {load} (other work on the machine inflates the seconds)")  # fmt: skip
    print(table(["source", "rows in", "CSV MiB", "seconds", "rows/s", "floor s", "vs floor"], rows))


def copy_without_checks(files: list[Path], contract) -> None:
    """The floor: the same files read by DuckDB and written as Parquet, with no checks and no quarantine."""
    import duckdb

    with tempfile.TemporaryDirectory() as out, duckdb.connect() as con:
        for i, f in enumerate(f for f in files if f.stat().st_size):
            con.execute(
                f"copy (select * from read_csv('{f}', header = true, all_varchar = true, "
                f"delim = '{contract.delimiter}', encoding = '{contract.encoding}', ignore_errors = true)) "
                f"to '{out}/{i}.parquet' (format parquet)"
            )


if __name__ == "__main__":
    main()
