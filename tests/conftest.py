"""Shared fixtures: a temporary HOURGLASS_HOME per test, one dbt parse and one pipeline run per session."""

import csv
from pathlib import Path

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
