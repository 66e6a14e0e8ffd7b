"""hourglass: a Dagster-orchestrated marketing data pipeline."""

import warnings

# dagster-dbt requires sqlglot[rs], whose sqlglotrs only warns on import that it is deprecated: sqlglot itself
# uses sqlglotc (installed with it), so the warning says nothing about this project.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="sqlglotrs")
