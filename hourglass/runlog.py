"""A command's whole output in a log file, so its console can show a few lines of progress and the result.

Everything written while the log is open goes to the file: dbt's output (dagster-dbt echoes it to stdout),
Dagster's log lines, Python warnings, child processes and what C extensions write straight to file
descriptors 1 and 2. The command writes its own lines to the console stream it is handed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TextIO

from hourglass import settings


def new_path(command: str) -> Path:
    """HOURGLASS_HOME/logs/<command>-<local time>.log"""
    return settings.home() / "logs" / f"{command}-{datetime.now():%Y%m%d-%H%M%S}.log"


@contextmanager
def captured(path: Path) -> Iterator[TextIO]:
    """Send stdout and stderr, the Python streams and the file descriptors beneath them, to `path`; yields the
    console (the stdout there was before)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    streams = sys.stdout, sys.stderr
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8", errors="replace")
    with path.open("a", buffering=1, encoding="utf-8", errors="replace") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
        try:
            yield console
        finally:
            log.flush()
            sys.stdout, sys.stderr = streams
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            console.close()
