"""The bad-input corpus (tests/corpus/): one real file per kind of trouble real exports bring.

A BOM, a quoted line break, a truncated last line, an invalid e-mail and an impossible date (CRM); Latin-1,
semicolons, decimal commas, a Dutch timestamp, a non-numeric and a negative amount (ERP); a duplicated key
(ESP); an empty file and a header without rows; a missing required column; line endings mixed in one file;
a quote that never closes; a column named like the lake's own and one twice in another case; no header; an
impossible date in the file name (kept as the file's name); 600 columns. Every row is accounted for with its
reason, or the load fails naming the file, quoting none of its values, and leaves the lake as it was.
"""

import json
import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import fault_log
import pytest
from conftest import assert_quotes_no_row_values

from hourglass import lake, landing
from hourglass.sources import CONTRACTS

CORPUS = Path(__file__).parent / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
DAY = date(2026, 11, 20)


def _source(name: str) -> str:
    return next(s for s in sorted(CONTRACTS, key=len, reverse=True) if name.startswith(s))


def _rows(dataset: Path, columns: str = "*") -> list[tuple]:
    if not any(dataset.glob("load_date=*/*.parquet")):
        return []
    return duckdb.sql(f"select {columns} from read_parquet('{dataset}/load_date=*/*.parquet')").fetchall()


def test_every_corpus_file_has_an_expectation():
    assert sorted(EXPECTED) == sorted(p.name for p in CORPUS.glob("*.csv"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_corpus_file_is_accounted_for_or_refused_clearly(home, name):
    source, expected = _source(name), EXPECTED[name]
    dated = re.search(r"_\d{4}-\d{2}-\d{2}\.csv$", name)  # a file whose name is the trouble keeps it
    path = home / "landing" / source / (name if dated else f"{source}_{DAY}.csv")
    path.parent.mkdir(parents=True)
    shutil.copy(CORPUS / name, path)
    fault_log.fault("bad input files (corpus and mutations)", 1)
    if "error" in expected:
        with pytest.raises(landing.LandingError, match=expected["error"]) as refused:
            landing.load_source(CONTRACTS[source])
        assert path.name in str(refused.value)
        assert_quotes_no_row_values(str(refused.value), path)
        assert _rows(lake.raw_dataset(source)) == []  # nothing half-loaded
        fault_log.count("loads refused with a clear error", 1)
        return
    (result,) = landing.load_source(CONTRACTS[source])
    quarantined = sum(expected["reasons"].values())
    assert (result.rows_in, result.rows_loaded, result.rows_quarantined) == (
        expected["rows_in"],
        expected["rows_loaded"],
        quarantined,
    )
    assert result.reasons == expected["reasons"]
    assert len(_rows(lake.raw_dataset(source))) == result.rows_loaded
    bad = _rows(lake.quarantine_dataset(source), "reason, raw_line")
    assert len(bad) == quarantined
    assert all(reason and raw for reason, raw in bad)  # each quarantined row keeps its reason and raw line
    fault_log.count(fault_log.ACCOUNTED, result.rows_in)
