"""The middle's Python steps as Dagster assets between dbt's selections (hourglass/model_steps.py): each reads
the Parquet hand-off of a dbt model and writes what dbt reads back as a source, on DuckDB and Spark alike."""

import dagster as dg

from hourglass import handoffs
from hourglass.assets.models import run_as_of


@dg.asset(
    key=handoffs.IDENTITY_COMPONENTS,
    deps=[dg.AssetKey(handoffs.IDENTITY_LINKS)],
    group_name="model",
    kinds={"python"},
    pool="warehouse",  # between two dbt steps of the same run: it reads what the first wrote
)
def identity_components() -> dg.MaterializeResult:
    """Who is one person: the identity graph's connected components, each record with its anchor record."""
    from hourglass import model_steps  # NumPy, SciPy and pyarrow only when the step runs

    return dg.MaterializeResult(metadata={"records": model_steps.run_identity_components()})


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            handoffs.CLV_FITS, deps=[dg.AssetKey(handoffs.CUSTOMER_ORDERS)], group_name="model", kinds={"python"}
        ),
        dg.AssetSpec(
            handoffs.CLV_PREDICTIONS,
            deps=[dg.AssetKey(handoffs.CUSTOMER_ORDERS)],
            group_name="model",
            kinds={"python"},
        ),
    ],  # fmt: skip
    pool="warehouse",
)
def clv(context: dg.AssetExecutionContext):
    """Predicted CLV: the BG/NBD and Gamma-Gamma fit when the newest no longer serves, then every customer."""
    from hourglass import model_steps

    result = model_steps.run_clv(run_as_of(context))
    yield dg.MaterializeResult(asset_key=handoffs.CLV_FITS, metadata={"fitted_for": str(result["fitted_for"])})
    yield dg.MaterializeResult(asset_key=handoffs.CLV_PREDICTIONS, metadata={"customers": result["customers"]})


step_assets = [identity_components, clv]
