"""The ingest assets in Dagster: counts as metadata and a warning when too much is quarantined."""

import dagster as dg
import pytest
from conftest import write_landing

from hourglass.assets.ingest import build_ingest_asset
from hourglass.sources import CONTRACTS


def _rows(good: int, bad: int) -> list[dict]:
    base = {"created_at": "2026-01-05T10:00:00", "updated_at": "2026-01-05T10:00:00"}
    return [base | {"customer_id": f"C{i}"} for i in range(good)] + [
        base | {"customer_id": f"B{i}", "email": "geen"} for i in range(bad)
    ]


@pytest.mark.parametrize(("bad", "threshold", "passed"), [(1, "0.2", True), (3, "0.2", False), (3, "0.5", True)])
def test_quarantine_share_check_warns_above_the_threshold(home, monkeypatch, bad, threshold, passed):
    monkeypatch.setenv("HOURGLASS_QUARANTINE_WARN_SHARE", threshold)
    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", _rows(7, bad))
    result = dg.materialize([build_ingest_asset(CONTRACTS["crm_customers"])])

    (materialization,) = result.get_asset_materialization_events()
    metadata = materialization.step_materialization_data.materialization.metadata
    assert (metadata["rows_in"].value, metadata["rows_loaded"].value, metadata["rows_quarantined"].value) == (
        7 + bad,
        7,
        bad,
    )
    assert "invalid e-mail in email" in metadata["quarantine_reasons"].value
    (check,) = result.get_asset_check_evaluations()
    assert check.passed is passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert result.success  # a warning never fails the load


def test_a_missing_required_column_fails_the_asset_with_file_and_column(home):
    columns = [c for c in CONTRACTS["crm_customers"].column_names if c != "customer_id"]
    rows = [{k: v for k, v in r.items() if k != "customer_id"} for r in _rows(2, 0)]
    write_landing(home, "crm_customers", "crm_customers_2026-11-20.csv", rows, columns=columns)
    with pytest.raises(Exception, match=r"crm_customers_2026-11-20\.csv: required column 'customer_id' is missing"):
        dg.materialize([build_ingest_asset(CONTRACTS["crm_customers"])])
