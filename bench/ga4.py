"""GA4 through the official client into the lake: the raw-protobuf path beside the proto-plus path.

    python -m bench.ga4 --customers 100000

Both paths fetch the same report pages from the emulator on loopback (whose answers are cached after a
first warm-up pass, so the emulator's own work is not measured), then the fast path loads the lake.
"""

import argparse
import os
import tempfile
from datetime import timedelta
from pathlib import Path

from bench.common import AS_OF, dataset, median_seconds, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--days", type=int, default=31, help="days in the measured report")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "hourglass-bench")
    args = parser.parse_args()

    landing = dataset(args.root, args.customers, args.seed)
    from hourglass.ga4 import report
    from hourglass.sample.ga4_emulator import Ga4Emulator

    fixture = sorted((landing / "ga4_web").glob("ga4_web_*.csv"))[-1]
    start, end = AS_OF - timedelta(days=args.days - 1), AS_OF
    with Ga4Emulator(fixture) as emulator:
        client = report.make_client(emulator.address)

        def fetch(reader):
            return report.fetch(client, emulator.property_id, start, end, reader=reader)[0].num_rows

        rows = fetch(report._columns_fast)  # warm the emulator's answer cache
        fast, _ = median_seconds(lambda: fetch(report._columns_fast), args.repeats)
        slow, _ = median_seconds(lambda: fetch(report._columns_proto_plus), max(1, args.repeats // 2))

        with tempfile.TemporaryDirectory() as home:
            os.environ["HOURGLASS_HOME"] = home
            lake_seconds, result = median_seconds(
                lambda: report.load(client, emulator.property_id, start, end, refetch_days=args.days), args.repeats
            )
    print(
        f"GA4 report of {args.days} days at {args.customers:,} customers: {rows:,} rows, pages of {report.MAX_PAGE:,}"
    )
    print(
        table(
            ["path", "seconds", "rows/s", "vs proto-plus"],
            [
                ["proto-plus rows (naive)", f"{slow:.2f}", rows / slow, "1.0x"],
                ["raw protobuf rows (used)", f"{fast:.2f}", rows / fast, f"{slow / fast:.1f}x"],
                [
                    "raw protobuf -> lake partitions",
                    f"{lake_seconds:.2f}",
                    result.rows / lake_seconds,
                    f"{slow / lake_seconds:.1f}x",
                ],
            ],
        )
    )


if __name__ == "__main__":
    main()
