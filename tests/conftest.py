"""Shared fixtures: a temporary HOURGLASS_HOME per test, one dbt parse and one pipeline run per session."""

import csv
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from hourglass.sources import CONTRACTS


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HOURGLASS_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def write_landing(home: Path, source: str, name: str, rows: list[dict], *, columns=None, tail: str = "") -> Path:
    """A landing file written the way the source's contract says (encoding, delimiter)."""
    contract = CONTRACTS[source]
    path = home / "landing" / source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    encoding = "utf-8-sig" if contract.encoding == "utf-8" else contract.encoding
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, columns or list(contract.column_names), delimiter=contract.delimiter)
        writer.writeheader()
        writer.writerows(rows)
        fh.write(tail)
    return path


@pytest.fixture(scope="session")
def dbt_manifest():
    """`dbt parse` once per session, before anything imports the Dagster definitions."""
    from hourglass.project import dbt_project, prepare

    prepare()
    return dbt_project.manifest_path


AS_OF = date(2026, 11, 20)
WINDOW_DAYS = 30  # dbt_project.yml var welcome_window_days


def _ts(days_before: int) -> str:
    return f"{AS_OF - timedelta(days=days_before)}T09:30:00"


# Hand-made customers next to the generated ones, each pinning one rule of the welcome campaign.
EDGE_CASES = [
    {
        "customer_id": "T1",
        "first_name": "Anouk",
        "email": "  Anouk.Visser@Example.NL ",
        "language": "nl",
        "created_at": _ts(3),
        "updated_at": _ts(3),
        "consent_email_marketing": "true",
    },
    # consent withdrawn in a newer version of the record: the newest version wins
    {
        "customer_id": "T2",
        "first_name": "Bram",
        "email": "bram@example.nl",
        "language": "nl",
        "created_at": _ts(5),
        "updated_at": _ts(5),
        "consent_email_marketing": "true",
    },
    {
        "customer_id": "T2",
        "first_name": "Bram",
        "email": "bram@example.nl",
        "language": "nl",
        "created_at": _ts(5),
        "updated_at": _ts(1),
        "consent_email_marketing": "false",
    },
    {
        "customer_id": "T3",
        "first_name": "Jürgen",
        "email": "juergen@example.de",
        "language": "de",
        "created_at": _ts(10),
        "updated_at": _ts(10),
        "consent_email_marketing": "ja",
    },
    {
        "customer_id": "T4",
        "first_name": "Cor",
        "email": "cor@example.nl",
        "language": "nl",
        "created_at": _ts(WINDOW_DAYS + 10),
        "updated_at": _ts(2),
        "consent_email_marketing": "true",
    },
    {
        "customer_id": "T5",
        "first_name": "Dewi",
        "email": "dewi@example.nl",
        "language": "en",
        "created_at": _ts(4),
        "updated_at": _ts(4),
        "consent_email_marketing": "",
    },
    {
        "customer_id": "T6",
        "first_name": "Emma",
        "email": "",
        "language": "en",
        "created_at": _ts(4),
        "updated_at": _ts(4),
        "consent_email_marketing": "true",
    },
]


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, dbt_manifest):
    """Generated sample data plus the edge cases, run once through the nightly job."""
    home = tmp_path_factory.mktemp("pipeline")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOURGLASS_HOME", str(home))
        mp.setenv("HOURGLASS_AS_OF_DATE", AS_OF.isoformat())
        from hourglass.generator import generate

        generate(out=home / "landing", customers=800, seed=11, as_of=AS_OF)
        write_landing(home, "crm_customers", f"crm_customers_{AS_OF}_edge.csv", EDGE_CASES)

        from hourglass.definitions import defs

        result = defs.resolve_job_def("nightly").execute_in_process(instance=dg.DagsterInstance.ephemeral())
        assert result.success
        yield home, result
