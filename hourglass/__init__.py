"""hourglass: a Dagster-orchestrated marketing data pipeline."""
