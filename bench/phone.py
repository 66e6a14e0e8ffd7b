"""The phone rule (dbt_project/macros/phone.sql) in DuckDB against Google's libphonenumber (`phonenumbers`).

    python -m bench.phone --numbers 1000000

Dutch mobiles and landlines, typed the way the generator types them. The
library is measured only when it is installed (`pip install phonenumbers`; the project does not depend on it):
parse + format E.164 in a Python loop, and the same as a DuckDB arrow UDF, the way staging would call it.
CPU seconds are the process's, all threads; on a shared machine they vary less than wall seconds.
"""

import argparse
import time

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.common import table


def numbers(n: int, seed: int) -> pa.Table:
    from hourglass.sample.generator.fields import concat
    from hourglass.sample.generator.people import typed_phone

    rng = np.random.default_rng(seed)
    mobile = rng.random(n) < 0.83
    mob = concat("6", pa.array(rng.integers(10_000_000, 100_000_000, n)).cast(pa.string()))
    land = concat("20", pa.array(rng.integers(2_000_000, 10_000_000, n)).cast(pa.string()))
    nsn = pc.if_else(pa.array(mobile), mob, land)
    typed = typed_phone(rng, nsn, mobile, np.zeros(n, np.int64))
    return pa.table({"phone": typed, "country": pa.array(["NL"] * n)})


def measure(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--numbers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    from hourglass import phone

    batch = numbers(args.numbers, args.seed)
    rows, results = [], {}

    def rule(threads: int):
        with duckdb.connect() as con:
            con.execute(f"set threads = {threads}")
            con.register("batch", batch)
            return con.sql(f"select {phone.sql('phone', 'country')} from batch").fetchall()

    for threads in (1, 2):
        wall, cpu, results["rule"] = measure(lambda threads=threads: rule(threads))
        rows.append([f"rule in DuckDB SQL, {threads} thread(s)", f"{wall:.2f}", f"{cpu:.2f}"])
    try:
        import phonenumbers
    except ImportError:
        print("phonenumbers is not installed: only the rule was measured")
    else:

        def parsed(number: str | None, region: str) -> str | None:
            try:
                found = phonenumbers.parse(number, region)
            except phonenumbers.NumberParseException:
                return None
            if not phonenumbers.is_possible_number(found):
                return None
            return phonenumbers.format_number(found, phonenumbers.PhoneNumberFormat.E164)

        pairs = list(zip(batch["phone"].to_pylist(), batch["country"].to_pylist(), strict=True))
        wall, cpu, loop = measure(lambda: [parsed(n, c) for n, c in pairs])
        rows.append(["phonenumbers, Python loop", f"{wall:.2f}", f"{cpu:.2f}"])

        def udf():
            def call(numbers: pa.Array, countries: pa.Array) -> pa.Array:
                pairs = zip(numbers.to_pylist(), countries.to_pylist(), strict=True)
                return pa.array([parsed(n, c) for n, c in pairs], pa.string())

            with duckdb.connect() as con:
                con.execute("set threads = 1")
                con.create_function("e164", call, ["VARCHAR", "VARCHAR"], "VARCHAR", type="arrow")
                con.register("batch", batch)
                return con.sql("select e164(phone, country) from batch").fetchall()

        wall, cpu, _ = measure(udf)
        rows.append(["phonenumbers, DuckDB arrow UDF, 1 thread", f"{wall:.2f}", f"{cpu:.2f}"])
        agree = sum(a == b for (a,), b in zip(results["rule"], loop, strict=True))
        print(f"the rule and phonenumbers agree on {agree:,} of {args.numbers:,} numbers")
    print(table([f"{args.numbers:,} numbers, parse + E.164", "wall s", "CPU s"], rows))


if __name__ == "__main__":
    main()
