"""An analyst edits the dbt project; the nightly builds must end where a full rebuild ends, from the first night.

Each test works on a copy of the project and of the pipeline's warehouse (the lake is shared, read only), and
runs dbt the way the nightly job does: one `dbt run` of every model for the night's day. Every model's every
column is compared with a full rebuild for the same day. The CLV model is fitted every night here
(clv_refit_days 1): a fit that serves a week differs from a full rebuild's fresh one by design.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from conftest import AS_OF
from test_incremental import rows
from test_middle import Warehouse

from hourglass import model_steps, settings

DBT = str(Path(sys.executable).parent / "dbt")
REFIT_EVERY_NIGHT = {"clv_refit_days": 1}
# The fit history grows by a row a night, and a full rebuild keeps one: what it predicts is compared
# (int_customer_clv).
HISTORY = {"int_customer_clv_fit"}
# What an analyst may tune (dbt_project.yml), each moved to a value that changes who is who or where.
TUNED = {
    "identity_max_people_per_identifier": 2,
    "identity_max_crm_customers_per_identifier": 2,
    "lifecycle_new_days": 60,
    "lifecycle_active_days": 300,
    "lifecycle_loyal_min_orders": 2,
    "lifecycle_lapsed_days": 450,
    "lifecycle_winback_gap_days": 300,
    "segment_young_min_age": 18,
    "segment_young_max_age": 27,
    "segment_dink_min_age": 28,
    "segment_dink_max_age": 45,
    "welcome_window_days": 45,
    "abandoner_window_days": 10,
    "winback_top_share": 0.5,
    "churn_risk_max_probability_alive": 0.7,
    "churn_risk_min_predicted_clv": 20,
    "reengage_max_recent_share": 0.5,
}
# What the tuned vars govern: each must differ from an untuned build, or the test proves nothing.
MOVED_BY_TUNING = [
    "identity_map",
    "int_customer_lifecycle",
    "customer_segments",
    "welcome_new_members",
    "workshop_signup_abandoners",
    "winback_lapsed",
    "churn_risk_valuable",
    "reengage_declining",
]


class Analyst:
    """A copy of the dbt project and a home of its own whose lake is the pipeline's."""

    def __init__(self, pipeline_home: Path, root: Path):
        self.project = root / "dbt_project"
        shutil.copytree(settings.DBT_PROJECT_DIR, self.project, ignore=shutil.ignore_patterns("target", "logs"))
        self.home = root / "home"
        (self.home / "lake" / "audiences").mkdir(parents=True)
        for part in ("raw", "quarantine"):
            (self.home / "lake" / part).symlink_to(pipeline_home / "lake" / part)
        shutil.copy(pipeline_home / "warehouse.duckdb", self.home / "warehouse.duckdb")
        self.warehouse = Warehouse(self.home)

    def edit(self, model: str, change) -> None:
        (path,) = self.project.glob(f"models/**/{model}.sql")
        before = path.read_text()
        path.write_text(change(before))
        assert path.read_text() != before, f"{model}: the edit changed nothing"

    def night(self, day, *extra: str, dbt_vars: dict | None = None) -> None:
        """A night's dbt for `day` as the nightly job runs it: every model (`dbt run`: the data tests and the unit
        tests, written for the default vars, are not what is compared), the identity and CLV steps between the
        parts, the day passed as the job passes it."""
        env = {"HOURGLASS_HOME": str(self.home), "HOURGLASS_AS_OF_DATE": day.isoformat()}

        def dbt(args: list[str]) -> None:
            command = [DBT, "run", *args[1:], "--project-dir", str(self.project), "--profiles-dir", str(self.project)]
            done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stdout[-4000:]

        extra = ("--vars", json.dumps({**REFIT_EVERY_NIGHT, **(dbt_vars or {})}), *extra)
        with settings.child_environment(**env):
            model_steps.dbt_build(dbt, "fqn:*", *extra, day=day)

    def models(self) -> list[str]:
        names = self.warehouse.df("select table_name from information_schema.tables where table_schema = 'main'")
        return sorted(set(names.table_name) - HISTORY)

    def snapshot(self) -> dict[str, pd.DataFrame]:
        return {name: rows(self.warehouse, name) for name in self.models()}


def differences(nightly: dict[str, pd.DataFrame], full: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Per model that differs, what differs: its columns, or the rows of the columns that differ."""
    out = {}
    for name in sorted(nightly.keys() | full.keys()):
        a, b = nightly.get(name), full.get(name)
        if a is None or b is None or list(a.columns) != list(b.columns):
            out[name] = (
                f"columns {None if a is None else list(a.columns)} against {None if b is None else list(b.columns)}"
            )
            continue
        try:
            pd.testing.assert_frame_equal(a, b, check_dtype=False)
        except AssertionError as error:
            out[name] = " ".join(str(error).split())[:400]
    return out


@pytest.fixture
def analyst(pipeline, tmp_path) -> Analyst:
    home, _ = pipeline
    return Analyst(home, tmp_path)


def test_a_new_windowed_column_is_right_every_night(analyst):
    """A 45-day click count next to the 90-day one (a window the project has no other use for), built for a day
    back, then night by night with new events and on across its edge with none (only the windows move): every
    model equals a full rebuild for the last night."""

    def add_45_days(sql: str) -> str:
        ninety = re.search(r"\n( *)(coalesce\(sum\(clicks\)[^\n]*, 90\)[^\n]*)\n\s*as email_clicks_last_90_days,", sql)
        indent, expression = ninety.group(1), ninety.group(2).replace(", 90)", ", 45)")
        return sql.replace(ninety.group(0), f"{ninety.group(0)}\n{indent}{expression} as email_clicks_last_45_days,")

    (model,) = [
        p.stem for p in analyst.project.glob("models/**/*.sql") if "as email_clicks_last_90_days" in p.read_text()
    ]
    analyst.edit(model, add_45_days)
    first, last = AS_OF - timedelta(days=2), AS_OF + timedelta(days=30)
    analyst.night(first, "--full-refresh")
    # night by night while events arrive, then nights after pauses (a pipeline down for a while): a month of
    # clicks leaves the 45-day window while nothing else changes
    for day in [AS_OF - timedelta(days=1), AS_OF, AS_OF + timedelta(days=1), AS_OF + timedelta(days=10), last]:
        analyst.night(day)
    nightly = analyst.snapshot()
    analyst.night(last, "--full-refresh")
    full = analyst.snapshot()

    assert full["int_customer_email"].email_clicks_last_45_days.sum() > 0
    assert differences(nightly, full) == {}


def test_each_tunable_var_holds_from_the_next_night(analyst):
    """The vars an analyst may tune, changed together for the night after the pipeline's: that night equals a
    full rebuild with them, and each group of them moved what it governs."""
    night = AS_OF + timedelta(days=1)
    analyst.night(night, dbt_vars=TUNED)
    nightly = analyst.snapshot()
    analyst.night(night, "--full-refresh", dbt_vars=TUNED)
    full = analyst.snapshot()
    analyst.night(night, "--full-refresh")
    untuned = analyst.snapshot()

    assert differences(nightly, full) == {}
    for model in MOVED_BY_TUNING:
        assert not untuned[model].equals(full[model]), f"{model}: the tuned vars moved nothing"
