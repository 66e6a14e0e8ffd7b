"""The dbt project's macros as plain Jinja, rendering DuckDB SQL outside dbt (the send-time consent check, phone
numbers for the ad audiences): one definition of a rule, whether dbt or Python runs it.

The macros written per engine (macros/cross_engine.sql) call `adapter.dispatch`; here it picks their duckdb__
version, else the default__ one, as dbt-duckdb's dispatch would.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import jinja2

from hourglass import settings


class _DuckDbAdapter:
    def __init__(self, env: jinja2.Environment):
        self._env = env

    def dispatch(self, name: str, namespace: str | None = None) -> Any:
        macros = self._env.get_template("cross_engine.sql").module
        return getattr(macros, f"duckdb__{name}", None) or getattr(macros, f"default__{name}")


class _Macro:
    """A macro by file and name, looked up when called: a Jinja module copies the globals it was made with, so
    every macro is registered before any module is made."""

    def __init__(self, env: jinja2.Environment, file_name: str, name: str):
        self._env, self._file_name, self._name = env, file_name, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._env.get_template(self._file_name).module, self._name)(*args, **kwargs)


def _environment(**globals_: Any) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(settings.DBT_PROJECT_DIR / "macros"),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.do"],  # as dbt has it
    )
    env.globals.update(globals_)
    return env


@cache
def environment() -> jinja2.Environment:
    """Jinja over dbt_project/macros with the project's vars, `env_var`, and, as in dbt, every macro as a global.
    dbt's `return` writes its value, which is what a macro that returns SQL text gives back here."""
    env = _environment(
        var=lambda name, default=None: settings.dbt_vars().get(name, default),
        env_var=lambda name, default=None: os.environ.get(name, default),
        **{"return": lambda value: value},
    )
    env.globals["adapter"] = _DuckDbAdapter(env)
    names = _environment()  # only to list each file's macros
    for path in sorted((settings.DBT_PROJECT_DIR / "macros").glob("*.sql")):
        module = names.get_template(path.name).module
        env.globals.update({name: _Macro(env, path.name, name) for name in dir(module) if not name.startswith("_")})
    return env


def macros(file_name: str) -> Any:
    """The macros of one file under dbt_project/macros, as callables returning SQL."""
    return environment().get_template(file_name).module
