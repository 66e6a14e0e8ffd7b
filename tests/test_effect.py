"""campaign_effect on constructed experiments: the real dbt model over outcomes with a known truth.

Two hundred simulated campaigns with a true uplift of 4 points and two hundred with none, each drawn at
random: a 95% interval should cover the truth in about 95% of them, and flag about 5% of the null ones.
"""

import json
import subprocess
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import AS_OF

from hourglass import settings

SEND = AS_OF - timedelta(days=30)
RUNS = 200


def _experiments(rng: np.random.Generator) -> pd.DataFrame:
    frames = []

    def experiment(name: str, n_treated: int, n_holdout: int, p_treated: float, p_holdout: float) -> None:
        groups = np.array(["treated"] * n_treated + ["holdout"] * n_holdout)
        p = np.where(groups == "treated", p_treated, p_holdout)
        converted = rng.random(groups.size) < p
        frames.append(
            pd.DataFrame(
                {
                    "campaign": name,
                    "send_window": SEND,
                    "customer_key": [f"{name}-{i}" for i in range(groups.size)],
                    "experiment_group": groups,
                    "messages_sent": (groups == "treated").astype(int),
                    "goal": "order",
                    "attribution_days": 14,
                    "attribution_complete": True,
                    "converted": converted,
                    "revenue": np.where(converted, 40.0, 0.0),
                }
            )
        )

    for i in range(RUNS):
        experiment(f"effect_{i:03d}", 2000, 2000, 0.12, 0.08)
        experiment(f"null_{i:03d}", 2000, 2000, 0.10, 0.10)
    experiment("tiny_holdout", 2000, 12, 0.12, 0.08)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def effects(tmp_path_factory, dbt_manifest):
    home = tmp_path_factory.mktemp("effect")
    outcomes = _experiments(np.random.default_rng(2026))
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.register("outcomes", outcomes)
        con.execute("create table int_campaign_outcomes as select * from outcomes")
    command = [
        str(settings.PROJECT_ROOT / ".venv" / "bin" / "dbt"),
        "run",
        "--select",
        "campaign_effect",
        "--vars",
        json.dumps({"as_of_date": AS_OF.isoformat()}),
        "--target-path",
        str(home / "target"),
        "--profiles-dir",
        str(settings.DBT_PROJECT_DIR),
    ]
    env = {"HOURGLASS_HOME": str(home), "PATH": "/usr/bin:/bin", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    done = subprocess.run(command, cwd=settings.DBT_PROJECT_DIR, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.sql("select * from campaign_effect").df().set_index("campaign")


def test_a_known_effect_is_recovered_within_its_interval(effects):
    runs = effects[effects.index.str.startswith("effect_")]
    covered = ((runs.uplift_ci_low <= 0.04) & (runs.uplift_ci_high >= 0.04)).mean()
    assert 0.91 <= covered <= 0.99
    assert abs(runs.uplift.mean() - 0.04) < 0.003
    assert runs.significant.mean() > 0.95  # the MDE here is about 2.6 points: 4 points are seen
    assert (runs.verdict == "uplift").mean() > 0.95
    assert abs(runs.relative_uplift.mean() - 0.5) < 0.06  # 12% against 8%
    assert abs(runs.incremental_revenue_per_message.mean() - 0.04 * 40) < 0.15


def test_without_an_effect_the_interval_covers_zero(effects):
    runs = effects[effects.index.str.startswith("null_")]
    covers_zero = ((runs.uplift_ci_low <= 0) & (runs.uplift_ci_high >= 0)).mean()
    assert 0.91 <= covers_zero <= 0.99
    assert runs.significant.mean() < 0.09
    assert (runs.treated == 2000).all() and (runs.held_out == 2000).all()


def test_a_holdout_too_small_says_so(effects):
    tiny = effects.loc["tiny_holdout"]
    assert tiny.verdict == "holdout too small to tell"
    assert tiny.minimum_detectable_effect > 0.1
    assert date.fromisoformat(str(tiny.send_window)[:10]) == SEND


# --- the demo's past campaigns: the sample generator planted a true effect in each (history.py)


@pytest.fixture(scope="module")
def demo_effects(pipeline) -> tuple[pd.DataFrame, dict]:
    home, _ = pipeline
    planted = json.loads((home / "landing" / "_truth" / "planted.json").read_text(encoding="utf-8"))
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        found = con.sql("select * from campaign_effect_overall").df().set_index("campaign")
    return found, planted["campaign_history"]["campaigns"]


def test_the_demo_measures_its_past_campaigns(demo_effects):
    """At least three campaigns' intervals exclude zero; the one without a planted effect covers zero."""
    found, truth = demo_effects
    assert set(truth) <= set(found.index)
    positive = [name for name, t in truth.items() if t["direction"] == "positive"]
    (null,) = [name for name, t in truth.items() if t["direction"] == "none"]
    assert sum(found.loc[name, "uplift_ci_low"] > 0 for name in positive) >= 3
    assert found.loc[null, "uplift_ci_low"] <= 0 <= found.loc[null, "uplift_ci_high"]
    counted = ["treated", "held_out", "treated_people", "held_out_people", "send_windows"]
    for name, t in truth.items():  # what was planted is what the receipts hold
        assert found.loc[name, counted].tolist() == [t[c] for c in counted], name


# Below this many people in either group a clustered standard error rests on too few draws (see the test below).
ENOUGH = 5


def test_each_planted_uplift_lies_within_its_interval(demo_effects):
    """The coverage argument. campaign_effect_overall counts a person once per send window they were treated or
    held out in, and whether they are held out is drawn once per person and campaign (activation.in_holdout, a
    hash), independently of everything else about them. Activation counts a held-out person as touched (cooldown,
    frequency cap), so both groups come back at the same pace and the rows of the two groups are alike but for
    the message; the sample's audiences of past days are drawn from what people did without the campaigns
    (history.py), so a message does not change who is in a later audience either. The planted uplift is the exact
    difference the messages made over those rows (history.py: a coin per person and send window, a conversion
    added where the message made one), so the difference in conversion rates estimates it without bias. A
    person's rows are one draw, not several: the standard error is clustered by person (macros/effect.sql), and
    with enough people in each group the 95% interval covers the truth in about 95 of 100 draws (a little more, as
    Neyman's variance is conservative for such a sample effect; test_a_known_effect_is_recovered_within_its_interval
    above measures the estimator on simulated experiments, where every person has one row).

    That holds when both groups hold enough people: with two held out (the welcome campaign: a tenth of the few
    dozen who joined), often none converting, the holdout's standard error is zero and the interval far too
    narrow. So the check is on the campaigns with at least ENOUGH people in each group: four on the demo's data
    (the campaign without an effect among them; cross-sell with about ten held out is the weakest), all covered
    with chance about 0.95^4 = 0.81. The demo's seed (42, as of 2026-11-20) is one where they are, so a change that
    moves an estimate away from its truth (a receipt lost on the way into the lake, a customer key the identity
    does not know, a conversion counted outside its window, a person's windows counted as independent draws) fails
    here.
    Those with fewer get "holdout too small to tell"."""
    found, truth = demo_effects
    checked = []
    for name, t in truth.items():
        row = found.loc[name]
        if min(row.treated_people, row.held_out_people) < ENOUGH:
            assert row.verdict == "holdout too small to tell"
            continue
        assert row.uplift_ci_low <= t["planted_uplift"] <= row.uplift_ci_high, (name, t["planted_uplift"], row)
        checked.append(name)
    assert len(checked) >= 4 and [n for n in checked if truth[n]["direction"] == "none"]
