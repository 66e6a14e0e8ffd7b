"""How fast the sample-data generator writes landing files: rows/s at each scale.

python -m bench.generator --customers 100000 1000000
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import AS_OF, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    from hourglass.sample.generator import generate

    rows = []
    for customers in args.customers:
        out = Path(tempfile.mkdtemp(prefix="hourglass-bench-gen-"))
        try:
            started = time.perf_counter()
            written = generate(out=out, customers=customers, seed=args.seed, as_of=AS_OF)
            seconds = time.perf_counter() - started
            size = sum(p.stat().st_size for p in out.rglob("*.csv"))
        finally:
            shutil.rmtree(out)
        total = sum(written.values())
        rows.append([customers, total, f"{seconds:.1f}", total / seconds, f"{size / 2**20:,.0f}"])
    print(table(["customers", "rows written", "seconds", "rows/s", "CSV MiB"], rows))


if __name__ == "__main__":
    main()
