"""Top of the hourglass: one asset per source, landing files -> Parquet lake, with a quarantine check."""

import dagster as dg

from hourglass import settings
from hourglass.freshness import freshness_policy
from hourglass.sources import CONTRACTS, SourceContract

QUARANTINE_WARN_SHARE_VAR = "HOURGLASS_QUARANTINE_WARN_SHARE"


class IngestConfig(dg.Config):
    force: bool = False  # reload load dates whose landing files did not change


def _reasons_table(reasons: dict[str, int]) -> str:
    if not reasons:
        return "no quarantined rows"
    rows = "\n".join(f"| {reason} | {n} |" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
    return "| reason | rows |\n|---|---|\n" + rows


def lake_rows(source: str) -> dict[str, int]:
    """Dagster's row count of a source: its rows in the lake over every load date (DuckDB counts them from the
    Parquet footers)."""
    from hourglass import lake

    return {"dagster/row_count": lake.row_count(lake.raw_dataset(source))}


def column_schema(contract: SourceContract) -> dict[str, dg.TableSchema]:
    """The source's columns with the types its contract gives them in the lake, for the asset's page."""
    columns = [
        dg.TableColumn(
            c.name,
            c.sql_type,
            description=c.description or None,
            constraints=dg.TableColumnConstraints(nullable=not c.required),
        )
        for c in contract.columns
    ]
    return {"dagster/column_schema": dg.TableSchema(columns=columns)}


def build_ingest_asset(contract: SourceContract) -> dg.AssetsDefinition:
    check_name = "quarantined_share"

    @dg.asset(
        name=contract.name,
        group_name="ingest",
        description=f"{contract.description} Landing: HOURGLASS_HOME/landing/{contract.name}/ (docs/sources.md).",
        kinds={"parquet"},
        metadata=column_schema(contract),
        freshness_policy=freshness_policy(contract.name),
        check_specs=[
            dg.AssetCheckSpec(
                check_name,
                asset=contract.name,
                description=f"Warns when more than {QUARANTINE_WARN_SHARE_VAR} of the rows are quarantined.",
            )
        ],
    )
    def _ingest(context: dg.AssetExecutionContext, config: IngestConfig):
        from hourglass import landing  # DuckDB and pyarrow: imported when a load runs, not at definitions load

        results = landing.load_source(contract, force=config.force)
        rows_in = sum(r.rows_in for r in results)
        quarantined = sum(r.rows_quarantined for r in results)
        reasons: dict[str, int] = {}
        for r in results:
            for reason, n in r.reasons.items():
                reasons[reason] = reasons.get(reason, 0) + n
        loaded_now = [r for r in results if not r.skipped]
        context.log.info(
            f"{contract.name}: {len(loaded_now)} load date(s) loaded, {len(results) - len(loaded_now)} unchanged; "
            f"{rows_in} rows in, {quarantined} quarantined"
        )
        share = quarantined / rows_in if rows_in else 0.0
        threshold = settings.float_setting(QUARANTINE_WARN_SHARE_VAR, 0.02)
        yield dg.MaterializeResult(
            metadata={
                **lake_rows(contract.name),
                "rows_in": rows_in,
                "rows_loaded": sum(r.rows_loaded for r in results),
                "rows_quarantined": quarantined,
                "rows_erased": sum(r.rows_erased for r in results),  # forgotten people delivered again (privacy/)
                "quarantined_share": share,
                "load_dates": dg.MetadataValue.json(
                    {
                        r.load_date.isoformat(): {"files": r.files, "rows_in": r.rows_in, "skipped": r.skipped}
                        for r in results
                    }
                ),
                "quarantine_reasons": dg.MetadataValue.md(_reasons_table(reasons)),
            }
        )
        yield dg.AssetCheckResult(
            check_name=check_name,
            passed=share <= threshold,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"quarantined_share": share, "threshold": threshold},
            description=f"{quarantined} of {rows_in} rows quarantined",
        )

    return _ingest


# GA4 is read through its API (assets/web.py); its landing file only feeds the embedded emulator.
API_SOURCES = {"ga4_web"}
ingest_assets = [build_ingest_asset(c) for c in CONTRACTS.values() if c.name not in API_SOURCES]
