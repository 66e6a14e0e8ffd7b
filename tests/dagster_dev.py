"""Dagster's webserver and daemon as a user starts them (`make dev`, `dg dev`), on a free loopback port."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hourglass import settings

BIN = settings.PROJECT_ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dg_dev(port: int) -> list:
    """What `make dev` runs after `hourglass prepare`."""
    return [BIN / "dg", "dev", "-h", "127.0.0.1", "-p", str(port)]


def dg_environment(env: dict) -> dict:
    """`env` as in an activated virtualenv: dg checks it runs in the project's."""
    return {**env, "VIRTUAL_ENV": str(BIN.parent)}


@contextmanager
def started(command: list, env: dict, port: int, log: Path) -> Iterator[str]:
    """`command` started in the project folder, until its webserver answers; its URL, then it is stopped."""
    with log.open("w") as out:
        server = subprocess.Popen([str(part) for part in command], cwd=settings.PROJECT_ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2)
                break
            except OSError:
                assert server.poll() is None, f"{command[:2]} exited:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"{command[:2]} did not answer within 5 minutes"
                time.sleep(1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
