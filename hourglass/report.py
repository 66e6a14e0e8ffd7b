"""The KPI report: one self-contained HTML page (Plotly's script inlined once) that opens without a network.

Sections: the scorecard (each KPI against its goal, from kpi_scorecard) at the top, KPI trends for the domains
with each goal drawn as a dashed line, segment sizes, the lifecycle, social sentiment, campaign uplift with intervals,
and data quality. The same key figures go to Dagster as metadata (see assets/report.py).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go

from hourglass import lake, settings
from hourglass.sources import CONTRACTS

# Any script error on the page is written onto <body>, so a headless browser test can read it from the DOM.
ERROR_PROBE = """<script>
window.addEventListener('error', function (e) {
  document.body.setAttribute('data-script-errors', (document.body.getAttribute('data-script-errors') || '')
    + (e.message || 'error') + ';');
});
</script>"""


@dataclass
class Section:
    key: str
    title: str
    intro: str
    figures: list[go.Figure] = field(default_factory=list)
    table: pd.DataFrame | None = None


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    return con.sql(sql).df()


def _line(df: pd.DataFrame, x: str, ys: dict[str, str], title: str) -> go.Figure:
    fig = go.Figure([go.Scatter(x=df[x], y=df[col], mode="lines", name=label) for col, label in ys.items()])
    fig.update_layout(title=title, height=320, margin=dict(l=40, r=20, t=50, b=40), legend=dict(orientation="h"))
    return fig


def _bar(labels, values, title: str, horizontal: bool = False) -> go.Figure:
    bar = go.Bar(y=labels, x=values, orientation="h") if horizontal else go.Bar(x=labels, y=values)
    fig = go.Figure([bar])
    fig.update_layout(title=title, height=320, margin=dict(l=40, r=20, t=50, b=40))
    return fig


GOAL_LINE = "goal: {kpi}"  # the label of a goal's dashed line on a chart


def _with_goals(fig: go.Figure, goals: dict[str, float], kpis: dict[str, float]) -> go.Figure:
    """The goal of each KPI in `kpis` (name -> the chart's scale of it) as a dashed line labelled GOAL_LINE."""
    for kpi, scale in kpis.items():
        if kpi in goals:
            fig.add_hline(
                y=goals[kpi] * scale,
                line_dash="dash",
                line_color="#888",
                annotation_text=GOAL_LINE.format(kpi=kpi),
                annotation_position="top left",
            )
    return fig


def scorecard_section(con: duckdb.DuckDBPyConnection) -> Section:
    table = _query(
        con,
        "select kpi, domain, owner, period_start, actual, target as goal, direction, status, change, relative_change"
        " from kpi_scorecard order by domain, kpi",
    )
    statuses = ["on track", "at risk", "missed", "no data"]
    counts = [int((table.status == s).sum()) for s in statuses]
    margin = settings.dbt_vars()["kpi_at_risk_margin"]
    period = f"{table.period_start.iloc[0]:%B %Y}" if len(table) else "-"
    return Section(
        "scorecard",
        "Scorecard: each KPI against its goal",
        f"{period}, the last complete month, against the month before. On track: the goal is met; at risk: missed"
        f" by at most {margin:.0%} of the goal; missed: by more. Goals: dbt_project/seeds/kpi_goals.csv.",
        [_bar(statuses, counts, "KPIs per status")],
        table,
    )


def social_section(con: duckdb.DuckDBPyConnection, goals: dict[str, float]) -> Section:
    monthly = _query(
        con,
        "select mention_month, sum(mentions) as mentions, sum(negative_mentions) / sum(mentions) as negative_share"
        " from kpi_social_monthly group by 1 order by 1",
    )
    topics = _query(
        con,
        "select topic, sum(mentions) as mentions, sum(negative_mentions) as negative_mentions,"
        " sum(negative_mentions) / sum(mentions) as negative_share from kpi_social_monthly group by 1 order by 2 desc",
    )
    return Section(
        "social",
        "Social: mentions and sentiment",
        "Mentions per month and the share of them that are negative; per topic below (seeds/social_topics.csv).",
        [
            _with_goals(
                _line(monthly, "mention_month", {"mentions": "mentions"}, "Mentions"), goals, {"social_mentions": 1}
            ),
            _with_goals(
                _line(monthly, "mention_month", {"negative_share": "negative share"}, "Negative mentions"),
                goals,
                {"negative_mention_share": 1},
            ),
        ],  # fmt: skip
        topics,
    )


def kpi_sections(con: duckdb.DuckDBPyConnection, goals: dict[str, float]) -> list[Section]:
    lifecycle = _query(con, "select * from kpi_lifecycle_monthly order by order_month")
    customers = _query(con, "select * from kpi_customers")
    web = _query(
        con,
        "select visit_date, sum(sessions) as sessions, sum(engagement_seconds) / nullif(sum(sessions), 0)"
        " as engagement_seconds_per_session from kpi_web_daily group by visit_date order by visit_date",
    )
    web_sources = _query(
        con,
        "select session_source_medium, sum(sessions) as sessions from kpi_web_daily"
        " group by 1 order by 2 desc limit 10",
    )
    email = _query(
        con,
        "select event_month, sum(unique_opens) / nullif(sum(sends), 0) as open_rate,"
        " sum(unique_clicks) / nullif(sum(sends), 0) as click_rate from kpi_email_monthly"
        " group by event_month order by event_month",
    )
    nps = _query(
        con,
        "select month, sum(nps * responses) / nullif(sum(responses), 0) as nps,"
        " 100 * any_value(complaint_rate_in_month) as complaint_percent from kpi_satisfaction_monthly"
        " group by month order by month",
    )
    by_stage = _query(con, "select lifecycle_stage, count(*) as customers from customer_360 group by 1 order by 2 desc")

    sections = [
        Section(
            "lifecycle",
            "Lifecycle: acquisition, repeat, win-back, cross-sell",
            "Customers per month by what they did, and where everyone stands today.",
            [
                _with_goals(
                    _line(
                        lifecycle,
                        "order_month",
                        {
                            "new_customers": "new",
                            "repeat_customers": "repeat",
                            "won_back_customers": "won back",
                            "cross_sold_customers": "cross-sold",
                        },
                        "Customers per month",
                    ),
                    goals,
                    {"new_customers": 1, "repeat_customers": 1, "won_back_customers": 1},
                ),  # fmt: skip
                _bar(by_stage.lifecycle_stage, by_stage.customers, "Customers per lifecycle stage"),
            ],
        ),
        Section(
            "customers",
            "Customer level",
            "Order value, frequency, opt-in and value today.",
            [
                _with_goals(
                    _line(
                        lifecycle, "order_month", {"average_order_value": "average order value (EUR)"}, "Order value"
                    ),
                    goals,
                    {"average_order_value": 1},
                )
            ],
            customers.T.reset_index().set_axis(["figure", "value"], axis=1),
        ),
        Section(
            "channel",
            "Channels: web and e-mail",
            "GA4 sessions and engagement per day; e-mail opens and clicks per month.",
            [
                _line(web, "visit_date", {"sessions": "sessions"}, "Web sessions per day"),
                _bar(web_sources.session_source_medium, web_sources.sessions, "Sessions by source / medium", True),
                _with_goals(
                    _line(email, "event_month", {"open_rate": "open rate", "click_rate": "click rate"}, "E-mail"),
                    goals,
                    {"email_open_rate": 1, "email_click_rate": 1},
                ),
            ],
        ),
        Section(
            "satisfaction",
            "Satisfaction: NPS and complaints",
            "Net Promoter Score and the share of service contacts that are complaints, per month.",
            [
                _with_goals(
                    _line(
                        nps, "month", {"nps": "NPS", "complaint_percent": "complaints, % of contacts"}, "Satisfaction"
                    ),
                    goals,
                    {"nps": 1, "complaint_rate": 100},  # the chart shows complaints in percent
                )
            ],
        ),
    ]
    return sections


def segment_section(con: duckdb.DuckDBPyConnection) -> Section:
    counts = _query(
        con,
        """
        select 'young people' as segment, count(*) filter (where is_young_person) as customers from customer_360
        union all select 'double income, no kids', count(*) filter (where is_double_income_no_kids) from customer_360
        union all select 'expats', count(*) filter (where is_expat) from customer_360
        union all select 'value: ' || value_tier, count(*) from customer_360 group by value_tier
        union all select 'interest: ' || main_interest, count(*) from customer_360
            where main_interest is not null group by main_interest
        order by 2 desc
        """,
    )
    return Section(
        "segments",
        "Segments",
        "People per segment (a person is in several).",
        [_bar(counts.segment, counts.customers, "Customers per segment", horizontal=True)],
        counts,
    )


def campaign_section(con: duckdb.DuckDBPyConnection) -> Section:
    effects = _query(con, "select * from campaign_effect_overall order by campaign")
    fig = go.Figure(
        [
            go.Bar(
                x=effects.campaign,
                y=effects.uplift * 100,
                error_y=dict(
                    type="data",
                    symmetric=False,
                    array=(effects.uplift_ci_high - effects.uplift) * 100,
                    arrayminus=(effects.uplift - effects.uplift_ci_low) * 100,
                ),
            )
        ]
    )
    fig.update_layout(title=CAMPAIGN_CHART_TITLE, height=360)
    columns = ["campaign", "send_windows", "treated", "held_out", "treated_people", "held_out_people", "treated_rate",
               "holdout_rate", "uplift", "uplift_ci_low", "uplift_ci_high", "minimum_detectable_effect",
               "verdict"]  # fmt: skip
    return Section(
        "campaigns",
        "Campaign effect against holdout",
        "Each campaign over its send windows whose attribution window has closed, a person once per window they"
        " were treated or held out in (treated, held_out), the interval allowing for a person's windows being one"
        " draw into the holdout. A holdout of too few people to tell says so.",
        [fig],
        effects[columns] if len(effects) else pd.DataFrame(columns=columns),
    )


CAMPAIGN_CHART_TITLE = "Campaign effect: uplift in conversion (points) with 95% interval"


def quality_section() -> Section:
    rows = [
        {
            "source": source,
            "rows_loaded": lake.row_count(lake.raw_dataset(source)),
            "rows_quarantined": lake.row_count(lake.quarantine_dataset(source)),
        }
        for source in CONTRACTS
    ]
    table = pd.DataFrame(rows)
    table["quarantined_share"] = table.rows_quarantined / (table.rows_loaded + table.rows_quarantined).clip(lower=1)
    fig = _bar(table.source, table.rows_quarantined, "Quarantined rows per source")
    return Section("quality", "Data quality", "Rows the loaders could not read, per source.", [fig], table)


def _warehouse() -> duckdb.DuckDBPyConnection:
    """The marts the report reads: the DuckDB file, or on Spark the tables fetched into DuckDB."""
    if settings.engine() != "spark":
        return duckdb.connect(str(settings.warehouse_path()), read_only=True)
    from hourglass import spark
    from hourglass.assets.report import SOURCES

    con = duckdb.connect()
    for name in SOURCES:
        con.register(name, spark.fetch(name))
    return con


def collect() -> list[Section]:
    with _warehouse() as con:
        goals = dict(con.execute("select kpi, target from kpi_scorecard").fetchall())
        sections = [scorecard_section(con), *kpi_sections(con, goals), social_section(con, goals)]
        sections.append(segment_section(con))
        sections.append(campaign_section(con))
    sections.append(quality_section())
    return sections


def render(sections: list[Section], generated: datetime) -> str:
    parts, first = [], True
    for section in sections:
        charts = []
        for fig in section.figures:
            # The first chart carries plotly.js inline; the others reuse it.
            charts.append(fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False}))
            first = False
        table = (
            section.table.to_html(index=False, float_format=lambda v: f"{v:,.3f}") if section.table is not None else ""
        )
        parts.append(
            f'<section id="{section.key}"><h2>{html.escape(section.title)}</h2>'
            f"<p>{html.escape(section.intro)}</p>{''.join(charts)}{table}</section>"
        )
    nav = " · ".join(f'<a href="#{s.key}">{html.escape(s.title.split(":")[0])}</a>' for s in sections)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hourglass KPI report</title>
{ERROR_PROBE}
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:1em}}
table{{border-collapse:collapse;font-size:.85em}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}
section{{margin-bottom:2.5em}}</style></head>
<body><h1>hourglass KPI report</h1><p>Generated {generated:%Y-%m-%d %H:%M} for {settings.as_of_date()}. {nav}</p>
{"".join(parts)}
</body></html>
"""


def write(sections: list[Section]) -> Path:
    target = settings.home() / "reports" / f"kpi_report_{settings.as_of_date()}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(render(sections, datetime.now()), encoding="utf-8")
    tmp.replace(target)
    latest = target.with_name("kpi_report.html")
    latest.unlink(missing_ok=True)
    latest.symlink_to(target.name)
    return target
