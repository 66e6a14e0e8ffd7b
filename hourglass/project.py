"""The dbt project as Dagster sees it. The manifest is read from target/, never parsed at import."""

from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtProject

from hourglass import settings

# dbt is installed beside this interpreter; find it there even when the virtualenv is not activated.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")


class _PrepareInPlace(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer, but the saved parse keeps the seed's checksum. dagster-dbt spoils it so that a
    parse made in CI still finds the seed after the project moves; this project is parsed where it runs, and a
    spoiled checksum made every dbt run parse the seed and save the parse again (0.2 s each)."""

    def _invalidate_seeds_in_partial_parse(self, project: DbtProject) -> None:
        pass


dbt_project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)
_preparer = _PrepareInPlace()


def prepare() -> None:
    """Write target/manifest.json (`dbt parse`) and the folder audiences are exported to (dbt-duckdb does not
    create it); called by the CLI, the test fixtures and `make dev`."""
    settings.ensure_audience_dir()
    _preparer.prepare(dbt_project)


@lru_cache(maxsize=1)
def manifest() -> dict:
    """The parsed manifest, read once per process; a clear error if nobody prepared it."""
    _preparer.prepare_if_dev(dbt_project)  # only under `dagster dev`
    path = dbt_project.manifest_path
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: run `hourglass prepare` (dbt parse) first; `make demo`, `make dev` and "
            "`make test` do this for you"
        )
    return json.loads(path.read_text())
