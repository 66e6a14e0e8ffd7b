"""The names the dbt middle and its Python steps (hourglass/model_steps.py) meet by: the dbt models a step reads
as Parquet hand-offs, the results dbt reads back as the source `steps`, where both sit in the lake, and dbt's
selections before, between and after the steps. No data library here: the Dagster definitions import it."""

from pathlib import Path

from hourglass import settings

IDENTITY_LINKS, IDENTITY_COMPONENTS = "int_identity_guarded_links", "identity_components"
CUSTOMER_ORDERS, CLV_FITS, CLV_PREDICTIONS = "int_customer_orders", "clv_fits", "clv_predictions"
HANDOFFS = (IDENTITY_LINKS, CUSTOMER_ORDERS)  # the models with {{ config(**parquet_handoff()) }}

# dbt's selections around the steps, as a run has them (hourglass/assets/models.py): before both, between, after.
AFTER_IDENTITY = "source:steps.identity_components+"
AFTER_CLV = "source:steps.clv_fits+ source:steps.clv_predictions+"
PARTS = (("fqn:*", "source:steps+"), (AFTER_IDENTITY, AFTER_CLV), (AFTER_CLV, ""))


def model_dir(name: str) -> Path:
    """Where a hand-off model or a step's result sits: a folder of Parquet files."""
    return settings.lake_dir() / "model" / name
