"""A private PostgreSQL for the test suite, as the launcher's private Redis is: a fresh cluster
in a temporary directory, listening on loopback only, with a generated password.

PostgreSQL refuses to run as root: when the suite runs as root, initdb and the server run as an
unprivileged system user (`postgres` when there is one, `nobody` otherwise) that owns the
directory; no shell is involved, only argument lists and the user switch `subprocess` does.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

USER = "arthur"
DATABASE = "arthur"
# Fast and throwaway: a crash loses the cluster, which each run makes anew anyway.
SETTINGS = {"listen_addresses": "127.0.0.1", "unix_socket_directories": "", "fsync": "off",
            "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "300"}


def bin_dir() -> Path:
    """Where initdb and postgres are: beside `initdb` on PATH, else the newest of Debian's
    /usr/lib/postgresql/<version>/bin."""
    if found := shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda path: int(Path(path).parts[-3]))
    if not versions:
        raise SystemExit("No PostgreSQL server found (initdb): install Debian's `postgresql` "
                         "package (`make test` does when it can).")
    return Path(versions[-1]).parent


def server_user() -> pwd.struct_passwd | None:
    """The user the server runs as: None for this process's own, or an unprivileged system
    user when this process is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise SystemExit("Running as root, and no `postgres` or `nobody` user to run PostgreSQL as.")


def _run_as(user: pwd.struct_passwd | None, args: list[str], **popen: Any
            ) -> subprocess.Popen[bytes]:
    """`args` as `user` (this process's own user when None): subprocess switches user and
    groups in the child, with no shell."""
    if user is None:
        return subprocess.Popen(args, env=_server_env(), **popen)
    return subprocess.Popen(args, env=_server_env(), user=user.pw_uid, group=user.pw_gid,
                            extra_groups=[], **popen)


def _own(path: Path, user: pwd.struct_passwd | None) -> None:
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def url(port: int, password: str, database: str = DATABASE) -> str:
    return f"postgresql://{USER}:{password}@127.0.0.1:{port}/{database}"


def _init(binaries: Path, base: Path, password: str, user: pwd.struct_passwd | None) -> Path:
    """initdb a cluster under `base` whose superuser `arthur` logs in with `password` (SCRAM),
    from a file only the server's user can read, deleted at once."""
    data = base / "data"
    password_file = base / "password"
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    _own(password_file, user)
    try:
        initdb = _run_as(user, [str(binaries / "initdb"), "--pgdata", str(data), "--username",
                                USER, "--pwfile", str(password_file), "--auth", "scram-sha-256",
                                "--encoding", "UTF8", "--locale", "C", "--no-sync"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = initdb.communicate()
    finally:
        password_file.unlink()
    if initdb.returncode:
        raise SystemExit(f"initdb failed: {output.decode(errors='replace')}")
    return data


def _server_env() -> dict[str, str]:
    # None of the suite's secrets (REDIS_URL's password) in the server's environment.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def _wait_ready(dsn: str, server: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until the server accepts this password, or give up with its log."""
    import psycopg  # noqa: PLC0415 (the `postgres` extra: needed only when the suite runs)

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=2, autocommit=True) as connection:
                connection.execute(f"CREATE DATABASE {DATABASE}")
                return
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"PostgreSQL did not start:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


@contextmanager
def private_postgres(port: int, timeout: float = 30.0) -> Iterator[str]:
    """A fresh PostgreSQL on 127.0.0.1:`port` for as long as the block runs; yields its URL
    (database `arthur`, user `arthur`, a new password). Removed, data and all, afterwards."""
    binaries = bin_dir()
    user = server_user()
    base = Path(tempfile.mkdtemp(prefix="arthur-test-postgres-"))
    _own(base, user)
    password = secrets.token_urlsafe(24)
    server = None
    try:
        data = _init(binaries, base, password, user)
        options = [arg for name, value in {**SETTINGS, "port": str(port)}.items()
                   for arg in ("-c", f"{name}={value}")]
        log = base / "server.log"
        with log.open("wb") as handle:
            server = _run_as(user, [str(binaries / "postgres"), "-D", str(data), *options],
                             stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_ready(url(port, password, "postgres"), server, log, timeout)
        yield url(port, password)
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)  # fast shutdown: ends every session
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(base, ignore_errors=True)
