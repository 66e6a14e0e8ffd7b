"""Every planted defect in the generator's files ends up quarantined under the right reason; nothing is lost."""

import json
import re
from datetime import date

import duckdb
import pytest

from hourglass import lake, landing
from hourglass.assets.ingest import API_SOURCES
from hourglass.sources import CONTRACTS

FILE_SOURCES = [name for name in CONTRACTS if name not in API_SOURCES]
REASON_KINDS = [
    (r"^invalid e-mail", "invalid_email"),
    (r"^missing required value", "missing_required"),
    (r"^not a valid (date|timestamp)", "unparseable_date"),
    (r"^not a valid decimal", "non_numeric_amount"),
    (r"^negative amount", "negative_amount"),
    (r"^score (above|below)", "out_of_range_score"),
    (r"^duplicate of an earlier", "exact_duplicate"),
    (r"^unreadable line", "truncated_row"),
]


def defect_kind(reason: str) -> str:
    return next(kind for pattern, kind in REASON_KINDS if re.search(pattern, reason))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    home = tmp_path_factory.mktemp("generated")
    from hourglass.sample.generator import generate

    generate(out=home / "landing", customers=600, seed=5, as_of=date(2026, 11, 20))
    return home, json.loads((home / "landing" / "_truth" / "planted.json").read_text())


@pytest.mark.parametrize("source", FILE_SOURCES)
def test_planted_defects_are_quarantined_by_kind(generated, monkeypatch, source):
    home, planted = generated
    monkeypatch.setenv("HOURGLASS_HOME", str(home))
    truth = planted["sources"][source]
    results = landing.load_source(CONTRACTS[source], force=True)

    assert sum(r.rows_in for r in results) == truth["rows"]
    assert sum(r.rows_loaded for r in results) == truth["valid"]
    assert sum(r.rows_quarantined for r in results) == truth["bad"]
    kinds: dict[str, int] = {}
    for r in results:
        for reason, n in r.reasons.items():
            kinds[defect_kind(reason)] = kinds.get(defect_kind(reason), 0) + n
    assert kinds == {k: n for k, n in truth["defects"].items() if n}


def test_multiline_texts_survive_intact(generated, monkeypatch):
    home, planted = generated
    monkeypatch.setenv("HOURGLASS_HOME", str(home))
    landing.load_source(CONTRACTS["nps_responses"], force=True)
    glob = lake.raw_glob("nps_responses")
    (comments,) = duckdb.sql(f"select count(*) from '{glob}' where comment like '%' || chr(10) || '%'").fetchall()[0]
    assert comments == planted["sources"]["nps_responses"]["valid_variants"]["multiline_comment"] > 0
