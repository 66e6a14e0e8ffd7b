"""The KPI report opens offline in a real browser (Debian's Chromium, headless) and every chart draws."""

import re
import shutil
import subprocess

import duckdb
import pytest

SECTIONS = [
    "scorecard",
    "lifecycle",
    "customers",
    "channel",
    "satisfaction",
    "social",
    "segments",
    "campaigns",
    "quality",
]


@pytest.fixture(scope="module")
def report_page(pipeline):
    home, result = pipeline
    materialized = {e.asset_key.to_user_string(): e for e in result.get_asset_materialization_events()}
    assert "kpi_report" in materialized
    path = home / "reports" / "kpi_report.html"
    assert path.exists()
    return path, materialized["kpi_report"].step_materialization_data.materialization.metadata


def test_the_report_is_self_contained(report_page):
    path, _ = report_page
    page = path.read_text()
    assert not re.search(r"<script[^>]+src=", page), "a script from elsewhere would need the network"
    assert page.count("Plotly.newPlot") >= 9
    for section in SECTIONS:
        assert f'<section id="{section}">' in page


@pytest.fixture(scope="module")
def dom(report_page) -> str:
    """The page as headless Chromium leaves it once its scripts ran."""
    path, _ = report_page
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--virtual-time-budget=20000",
            "--dump-dom",
            path.resolve().as_uri(),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def test_the_report_draws_every_chart_in_headless_chromium(dom):
    assert "<body" in dom
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert "data-script-errors" not in body, body  # the page's probe writes any script error onto <body>
    charts = dom.count("Plotly.newPlot")
    drawn = len(re.findall(r'<svg class="main-svg"', dom))
    assert charts >= 9 and drawn >= charts  # each chart draws at least one SVG layer


def test_the_key_figures_are_asset_metadata(report_page):
    _, metadata = report_page
    assert metadata["customers"].value > 0 and 0 <= metadata["email_opt_in_share"].value <= 1
    assert "welcome_new_members" in metadata["campaign_effect"].value
    assert "| source" in metadata["data_quality"].value and metadata["rows_quarantined"].value > 0


def test_the_campaign_chart_shows_each_measured_campaign(pipeline, dom):
    """The campaign section's chart, drawn: its title and a bar per campaign the warehouse measured."""
    from hourglass.report import CAMPAIGN_CHART_TITLE

    home, _ = pipeline
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        measured = [name for (name,) in con.execute("select campaign from campaign_effect_overall").fetchall()]
    assert len(measured) >= 4
    section = re.search(r'<section id="campaigns">(.*?)</section>', dom, re.S).group(1)
    assert CAMPAIGN_CHART_TITLE in re.sub(r"<[^>]+>", "", section)
    ticks = re.findall(r'<g class="xtick">.*?<text[^>]*>([^<]+)</text>', section)
    assert sorted(ticks) == sorted(measured)
    assert len(re.findall(r'<g class="point">', section)) == len(measured)


def test_the_scorecard_leads_the_report_and_each_goal_is_a_line_on_its_chart(pipeline, dom):
    """The scorecard is the first section, with a row per KPI as the warehouse has it (goal and status); the goals of
    the KPIs the charts plot are drawn on them as labelled dashed lines."""
    from hourglass.report import GOAL_LINE

    home, _ = pipeline
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("select kpi, target, status from kpi_scorecard").fetchall()
    assert re.findall(r'<section id="(\w+)">', dom)[0] == "scorecard"
    section = re.search(r'<section id="scorecard">(.*?)</section>', dom, re.S).group(1)
    cells = [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)]
    shown = {c[0]: (float(c[5].replace(",", "")), c[7]) for c in cells if c}
    assert shown == {kpi: (pytest.approx(target, rel=1e-3), status) for kpi, target, status in rows}
    text = re.sub(r"<[^>]+>", " ", dom)
    for kpi, section_key in [("nps", "satisfaction"), ("email_open_rate", "channel"), ("new_customers", "lifecycle"),
                             ("negative_mention_share", "social")]:  # fmt: skip
        part = re.search(rf'<section id="{section_key}">(.*?)</section>', dom, re.S).group(1)
        assert GOAL_LINE.format(kpi=kpi) in re.sub(r"<[^>]+>", "", part), kpi
    assert text.count("goal: ") >= 8
