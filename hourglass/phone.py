"""Phone numbers in E.164, by the one rule: the dbt macro in dbt_project/macros/phone.sql.

Staging applies the macro in SQL. Python renders the same file with Jinja and runs the SQL through DuckDB on a
batch of numbers (the ad audiences), or matches the macro's pattern of a number in normal form (the SMS check).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from typing import Any

from hourglass import dbt_macros, settings

MACROS = settings.DBT_PROJECT_DIR / "macros" / "phone.sql"


@functools.cache
def _macros() -> Any:
    return dbt_macros.macros(MACROS.name)


def sql(column: str, country: str | None = None) -> str:
    """The SQL expression that normalises `column`; `country` (an expression) for numbers written nationally."""
    return str(_macros().normalise_phone(column, country)).strip()


def countries() -> dict[str, dict[str, Any]]:
    """The countries whose national notation the rule reads: ISO code -> country code and NSN length range."""
    return json.loads(str(_macros().phone_rule("countries")))


@functools.cache
def _pattern() -> re.Pattern[str]:
    return re.compile(str(_macros().phone_pattern()).strip())


def is_e164(value: Any) -> bool:
    """True when `value` is a number in the normal form the rule writes (normalising it changes nothing)."""
    return isinstance(value, str) and _pattern().fullmatch(value) is not None


def normalise(numbers: Sequence[str | None], countries: Sequence[str | None] | None = None) -> list[str | None]:
    """Each number in E.164 or None; `countries` (ISO codes, one per number) place numbers written nationally."""
    import duckdb  # imported when numbers are normalised, not when the Dagster definitions load
    import pyarrow as pa

    batch = pa.table(
        {
            "phone": pa.array(numbers, pa.string()),
            "country": pa.array(countries if countries is not None else [None] * len(numbers), pa.string()),
        }
    )
    with duckdb.connect() as con:
        con.register("phone_batch", batch)
        # In the batch's order: DuckDB keeps insertion order for a plain projection.
        result = con.sql(f"select {sql('phone', 'country')} as e164 from phone_batch").to_arrow_table()
    return result.column("e164").to_pylist()
