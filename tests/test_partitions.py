"""Daily partitions on the event-sized models: a date range backfilled from the CLI in one dbt run."""

import os
import subprocess

import dagster as dg
import duckdb
import pytest
from conftest import AS_OF

from hourglass import settings

MODELS = {"int_esp_events_daily": "event_date", "int_ga4_web_daily": "visit_date"}
START, END = "2026-11-06", "2026-11-12"  # inclusive, as the CLI takes it


def _rows(home, inside: bool) -> dict[str, list]:
    out = {}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for model, column in MODELS.items():
            where = f"{column} between '{START}' and '{END}'"
            out[model] = con.sql(
                f"select * from {model} where {'' if inside else 'not '}({where}) order by all"
            ).fetchall()
    return out


def test_a_cli_backfill_rebuilds_exactly_its_days(pipeline_copy, tmp_path):
    home, _ = pipeline_copy
    inside, outside = _rows(home, True), _rows(home, False)
    assert all(inside.values()), "the sample has events in the backfill range"
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:  # lose those days
        for model, column in MODELS.items():
            con.execute(f"delete from {model} where {column} between '{START}' and '{END}'")
    assert not any(_rows(home, True).values())

    env = {
        "PATH": f"{settings.PROJECT_ROOT / '.venv' / 'bin'}:/usr/bin:/bin",
        "HOURGLASS_HOME": str(home),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "HOURGLASS_AS_OF_DATE": AS_OF.isoformat(),
    }
    (tmp_path / "dagster").mkdir()
    command = ["dagster", "asset", "materialize", "-m", "hourglass.definitions", "--select", ",".join(MODELS),
               "--partition-range", f"{START}...{END}"]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=settings.PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    assert _rows(home, True) == inside  # the range is back, row for row
    assert _rows(home, False) == outside  # and nothing else moved
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
        with dg.DagsterInstance.get() as instance:
            (run,) = instance.get_runs()  # one run for the whole range (BackfillPolicy.single_run)
    assert run.tags["dagster/asset_partition_range_start"] == START
    assert run.tags["dagster/asset_partition_range_end"] == END


def test_a_runs_day_reaches_dbt_through_the_environment_without_a_new_parse(home, dbt_manifest, monkeypatch, tmp_path):
    """Each night has another day: as a dbt var it would make every run parse the project again."""
    from hourglass.project import DbtCli, dbt_project

    monkeypatch.delenv("HOURGLASS_AS_OF_DATE", raising=False)
    settings.ensure_audience_dir()
    dbt = DbtCli(project_dir=dbt_project)
    target = tmp_path / "target"  # the second run finds the first one's parse here (this home is new to dbt)
    parses = []
    for day in ("2026-03-01", "2026-03-02"):
        with settings.child_environment(HOURGLASS_AS_OF_DATE=day):
            invocation = dbt.cli(["compile", "--select", "welcome_new_members"], target_path=target)
        invocation.wait()
        compiled = target / "compiled" / "hourglass" / "models" / "audiences" / "welcome_new_members.sql"
        assert f"cast('{day}' as date)" in compiled.read_text()
        parses.append((target / "dbt.log").read_text().count("no changes found, skipping parsing"))
    assert parses == [0, 1]  # the first run parsed (a new target), the second did not
    assert "HOURGLASS_AS_OF_DATE" not in os.environ  # set for the dbt process only


def test_a_run_after_prepare_parses_nothing_again(dbt_manifest, tmp_path):
    """`hourglass prepare` saves a parse that every later run reuses whole, the seed's included: dagster-dbt's
    own preparer spoils the seed's entry, and each run parsed it again."""
    from hourglass.project import DbtCli, dbt_project, prepare

    prepare()  # for this process's environment, whatever ran before
    target = tmp_path / "target"  # the run copies the saved parse here, as Dagster's runs do
    DbtCli(project_dir=dbt_project).cli(["parse"], target_path=target).wait()
    log = (target / "dbt.log").read_text()
    assert "no changes found, skipping parsing" in log
    assert "updated file" not in log


def test_the_dbt_resource_knows_the_version_dbt_reports():
    """The resource reads dbt's version from the installed package instead of running `dbt --version` in every
    run; it must be the version that command prints."""
    import re
    import shutil

    from hourglass.project import DbtCli, dbt_project

    printed = subprocess.run([shutil.which("dbt"), "--version"], capture_output=True, text=True, check=True).stdout
    core = re.search(r"installed: (\d+\.\d+\.\d+)", printed).group(1)
    assert str(DbtCli(project_dir=dbt_project)._cli_version) == core


def test_prepare_names_the_project_and_dbts_error_when_the_parse_fails(tmp_path):
    from dagster_dbt import DbtProject

    from hourglass.project import _preparer

    project = tmp_path / "broken"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: broken\nversion: '1.0'\nprofile: hourglass\n")
    (project / "profiles.yml").write_text((settings.DBT_PROJECT_DIR / "profiles.yml").read_text())
    (project / "models" / "bad.sql").write_text("select {{ ref( }}\n")
    with pytest.raises(RuntimeError, match=r"dbt parse of .*broken failed:(.|\n)*bad\.sql"):
        _preparer.prepare(DbtProject(project_dir=project, profiles_dir=project))
    assert not (project / "target" / "manifest.json").exists()
