"""Settings from the environment: clear errors, and a Dagster instance fit for this machine."""

from datetime import date

import dagster as dg
import pytest

from hourglass import settings


def test_dagster_home_gets_an_instance_that_serialises_warehouse_writers(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = settings.dagster_home()
    with dg.DagsterInstance.get() as instance:
        config = instance.get_concurrency_config()
    assert config.pool_config.default_pool_limit == 1  # pool "warehouse" on the dbt assets
    assert config.run_queue_config.max_concurrent_runs == 2
    assert "enabled: false" in (home / "dagster.yaml").read_text()


def test_an_existing_dagster_yaml_is_left_alone(tmp_path, monkeypatch):
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    settings.dagster_home()
    assert (tmp_path / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"


READERS = {
    "HOURGLASS_AS_OF_DATE": settings.as_of_date,
    "HOURGLASS_HISTORY_START": settings.history_start,
    "HOURGLASS_QUARANTINE_WARN_SHARE": lambda: settings.float_setting("HOURGLASS_QUARANTINE_WARN_SHARE", 0.02),
}


@pytest.mark.parametrize(
    ("name", "value"),
    [("HOURGLASS_AS_OF_DATE", "22-11-2026"), ("HOURGLASS_HISTORY_START", "1997"),
     ("HOURGLASS_QUARANTINE_WARN_SHARE", "veel")],
)  # fmt: skip
def test_a_malformed_setting_fails_naming_it(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        READERS[name]()


def test_the_history_starts_in_2024_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("HOURGLASS_HISTORY_START", raising=False)
    assert settings.history_start() == date(2024, 1, 1)
    monkeypatch.setenv("HOURGLASS_HISTORY_START", "1997-01-01")
    assert settings.history_start() == date(1997, 1, 1)


@pytest.mark.parametrize(
    ("given", "missing"),
    [("HOURGLASS_WEBHOOK_URL", "HOURGLASS_WEBHOOK_SECRET"), ("HOURGLASS_SMTP_USERNAME", "HOURGLASS_SMTP_PASSWORD")],
)
def test_a_setting_that_needs_another_fails_at_start_naming_it(monkeypatch, given, missing):
    from hourglass.resources.channels import channel_resources

    monkeypatch.setenv(given, "x")
    monkeypatch.setenv("HOURGLASS_SMTP_HOST", "127.0.0.1")
    with pytest.raises(ValueError, match=f"missing setting: {missing} \\(needed because {given} is set\\)"):
        channel_resources()


def test_a_run_before_the_history_start_fails_naming_both_settings(monkeypatch, tmp_path):
    from hourglass.cli import run_job

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("HOURGLASS_AS_OF_DATE", "1997-09-30")
    monkeypatch.delenv("HOURGLASS_HISTORY_START", raising=False)
    with pytest.raises(ValueError, match="1997-09-30 is before HOURGLASS_HISTORY_START 2024-01-01"):
        run_job("nightly")
