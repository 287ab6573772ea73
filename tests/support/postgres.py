"""A throwaway PostgreSQL server for the test suite.

The server lives in a temporary directory, listens on 127.0.0.1 on a free port and a
private Unix socket, trusts every local connection (superuser ``deskhand``) and runs
with durability switched off. PostgreSQL refuses to run as root, so when the tests run
as root the server binaries are run as the ``postgres`` OS user instead.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

USER = "deskhand"
OS_USER = "postgres"  # runs the server binaries when we are root
_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_SHM = Path("/dev/shm")
_SHM_MIN_FREE = 1 << 30
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing or the server would not start."""


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<ver>/bin``, else the directory of ``initdb`` on PATH."""
    candidates = [Path(d) for d in glob.glob(_BIN_GLOB) if Path(d, "initdb").is_file()]
    if candidates:
        return max(candidates, key=lambda d: _version_key(d.parent.name))
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found under "
        f"{_BIN_GLOB} or on PATH. Install the Debian/Ubuntu package 'postgresql' "
        "(apt-get install postgresql), or run only the SQLite tests with "
        "DESKHAND_TEST_DATABASES=sqlite."
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quote_ident(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return f'"{name}"'


def _free_bytes(path: Path) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize if os.access(path, os.W_OK) else 0


def _traversable_by(path: Path, uid: int) -> bool:
    """Whether every directory from / down to ``path`` can be entered by ``uid``."""
    for directory in [path, *path.parents]:
        try:
            st = directory.stat()
        except OSError:
            return False
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)):
            return False
    return True


class PostgresServer:
    """One throwaway server; ``start()`` it, ``stop()`` it (also a context manager)."""

    def __init__(self) -> None:
        self.bin_dir: Path | None = None
        self.base_dir: Path | None = None
        self.port: int | None = None
        self.startup_seconds: float | None = None
        self._run_as: pwd.struct_passwd | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        if self.base_dir is not None:
            raise RuntimeError("server already started")
        began = time.monotonic()
        self.bin_dir = find_bin_dir()
        self._run_as = _os_user() if os.geteuid() == 0 else None
        self.base_dir = self._make_base_dir()
        try:
            self._pg(
                "initdb",
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                USER,
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            for attempt in range(attempts):
                self.port = _free_port()
                try:
                    self._pg_ctl_start()
                    break
                except PostgresUnavailable:
                    # Another process may have taken the port between probe and bind.
                    if attempt == attempts - 1 or "already in use" not in self._log_tail():
                        raise
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop the server (immediate shutdown) and delete its directory. Idempotent."""
        if self.base_dir is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._pg("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
            self.port = None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._base / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base / "socket"

    @property
    def log_file(self) -> Path:
        return self._base / "postgres.log"

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL for database ``dbname`` on this server."""
        return f"postgresql+asyncpg://{USER}@127.0.0.1:{self._port}/{dbname}"

    # -- databases ---------------------------------------------------------------------

    async def execute(self, sql: str, *args: Any, dbname: str = "postgres") -> str:
        """Run one statement on a fresh asyncpg connection (admin helper)."""
        conn = await asyncpg.connect(
            host="127.0.0.1", port=self._port, user=USER, database=dbname, ssl=False
        )
        try:
            return str(await conn.execute(sql, *args))
        finally:
            await conn.close()

    async def create_database(self, name: str, template: str | None = None) -> None:
        sql = f"CREATE DATABASE {quote_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {quote_ident(template)}"
        await self.execute(sql)

    async def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whatever is still connected to it."""
        await self.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")

    # -- internals ---------------------------------------------------------------------

    @property
    def _base(self) -> Path:
        if self.base_dir is None:
            raise RuntimeError("server not started")
        return self.base_dir

    @property
    def _port(self) -> int:
        if self.port is None:
            raise RuntimeError("server not started")
        return self.port

    def _make_base_dir(self) -> Path:
        # Prefer RAM: creating databases on a tmpfs is ~10x faster than on a disk.
        candidates = [Path(tempfile.gettempdir()).resolve(), Path("/tmp")]
        if _free_bytes(_SHM) >= _SHM_MIN_FREE:
            candidates.insert(0, _SHM)
        uid = self._run_as.pw_uid if self._run_as is not None else os.geteuid()
        parent = next((c for c in candidates if _traversable_by(c, uid)), candidates[-1])
        base = Path(tempfile.mkdtemp(prefix="deskhand-pg-", dir=parent))
        (base / "socket").mkdir()
        if self._run_as is not None:
            for path in (base, base / "socket"):
                os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
        return base

    def _pg_ctl_start(self) -> None:
        options = (
            f"-F -p {self._port} -k {shlex.quote(str(self.socket_dir))}"
            " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        self._pg(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
        )

    def _pg(self, program: str, *args: str) -> None:
        command = [str(self._bin(program)), *args]
        if self._run_as is not None:
            command = ["runuser", "-u", self._run_as.pw_name, "--", *command]
        result = subprocess.run(
            command,
            cwd=self._base,  # the server user may not be able to enter our cwd
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresUnavailable(
                f"{program} failed (exit {result.returncode}): {' '.join(command)}\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )

    def _bin(self, program: str) -> Path:
        assert self.bin_dir is not None
        path = self.bin_dir / program
        if not path.is_file():
            raise PostgresUnavailable(f"{program} not found in {self.bin_dir}")
        return path

    def _log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
            return "server log:\n" + "\n".join(tail) if tail else ""
        return ""


def _os_user() -> pwd.struct_passwd:
    """The ``postgres`` OS user, created as a system user if it does not exist yet."""
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                OS_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(OS_USER)
