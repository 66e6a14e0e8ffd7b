"""A throwaway PostgreSQL server on loopback, from Debian's packages (`make` installs them when missing).

initdb into a temporary folder, `pg_ctl start` on a free port of 127.0.0.1 with password authentication,
createdb; stopped and removed afterwards. PostgreSQL refuses to run as root, so as root (CI) the server runs as
the `postgres` user the Debian package creates, or as `nobody`.
"""

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def bin_dir() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin (newest)."""
    if found := shutil.which("pg_ctl"):
        return Path(found).resolve().parent  # Debian links only the client tools into PATH
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else None


def _server_user() -> str | None:
    """Who runs the server: None for ourselves, unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a postgres nor a nobody user exists to run PostgreSQL")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_postgres(db_name: str = "dagster") -> Iterator[dict[str, str]]:
    """A running server with one database; yields how to reach it (host, port, user, password, database)."""
    binaries = bin_dir()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed: `make` installs it from Debian (make postgresql)")
    user = _server_user()
    as_user = ["runuser", "-u", user, "--"] if user else []
    # Under /tmp rather than pytest's folders: those are private to root, and the server's user must reach it.
    base = Path(tempfile.mkdtemp(prefix="hourglass-pg-"))
    data, log, pwfile = base / "data", base / "server.log", base / "password"
    login = {"host": "127.0.0.1", "port": str(_free_port()), "user": "hourglass", "password": secrets.token_hex(8)}
    pwfile.write_text(login["password"])
    if user:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120, cwd=base)
        if done.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{command[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}{tail}")

    run(str(binaries / "initdb"), "-D", str(data), "-U", login["user"], f"--pwfile={pwfile}",
        "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {login['port']} -c unix_socket_directories=''"
    run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    try:
        env = {**os.environ, "PGPASSWORD": login["password"]}
        done = subprocess.run(
            [str(binaries / "createdb"), "-h", login["host"], "-p", login["port"], "-U", login["user"], db_name],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        yield {**login, "database": db_name}
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
