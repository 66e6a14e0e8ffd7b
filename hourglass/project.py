"""The dbt project as Dagster sees it. The manifest is read from target/, never parsed at import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject
from packaging.version import Version

from hourglass import settings

# dbt is installed beside this interpreter; find it there even when the virtualenv is not activated.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")


class _ParseInPlace(DagsterDbtProjectPreparer):
    """dagster-dbt's preparer (its lock against concurrent parses included), but it runs `dbt parse` itself.
    dagster-dbt's way runs `dbt --version` and loads the adapter's macros before parsing, work a parse does not
    need, on every prepare; and it spoils the seed's checksum in the saved parse so that a parse made in CI
    finds the seed after the project moves: this project is parsed where it runs, and the spoiled checksum
    made every dbt run parse the seed and save the parse again."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        target = project.project_dir / project.target_path
        command = ["dbt", "parse", "--quiet", "--project-dir", project.project_dir]
        command += ["--profiles-dir", project.profiles_dir, "--target-path", target]
        env = {**os.environ, "DBT_LOG_PATH": str(target), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        parsed = subprocess.run([str(part) for part in command], env=env, capture_output=True, text=True)
        if parsed.returncode != 0:
            raise RuntimeError(f"dbt parse of {project.project_dir} failed:\n{parsed.stdout}{parsed.stderr}")


class DbtCli(DbtCliResource):
    """DbtCliResource that takes dbt's version from the installed package: dagster-dbt runs `dbt --version` for
    it, once per resource and process, which costs a Python start and dbt's import in every run."""

    @property
    def _cli_version(self) -> Version:
        return Version(version("dbt-core"))

    def cli(self, args, **kwargs):
        """On Spark, dbt needs a Thrift server to talk to: the configured cluster's, else the local one, started
        here when it is not running (hourglass/spark.py)."""
        if settings.engine() == "spark":
            from hourglass import spark

            spark.ensure()
        return super().cli(args, **kwargs)


dbt_project = DbtProject(project_dir=settings.DBT_PROJECT_DIR, profiles_dir=settings.DBT_PROJECT_DIR)
_preparer = _ParseInPlace()


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
