"""
PostgreSQL and Redis from Debian's packages, each a throw-away server on 127.0.0.1 owned by the test.

:func:`postgres_server` runs ``initdb`` into a new temporary data directory and ``postgres`` in the
foreground (as the ``postgres`` user when the test runs as root: PostgreSQL refuses root), on a free
TCP port of 127.0.0.1 with its unix socket in that directory; durability is off (a test database).
:func:`redis_server` runs ``redis-server`` on a free port of 127.0.0.1 without persistence. Both are
stopped (then killed) and their directories removed when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_processes import LOOPBACK, free_port, wait_until

INSTALL_HINT = "make test installs it (as root); or: apt-get install -y postgresql redis-server"


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program (initdb, postgres) of the newest installed Debian version."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed; {INSTALL_HINT}")
    return found[-1]


@dataclass
class Server:
    """A started server process and where it listens."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    directory: Path
    log_path: Path

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, first_signal: int = signal.SIGTERM, grace: float = 15.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, first_signal)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)


def _owned_by(user: str | None, path: Path) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@contextlib.contextmanager
def postgres_server(database: str = "airflow", user: str = "airflow") -> Iterator[tuple[Server, str]]:
    """A running PostgreSQL and the SQLAlchemy URL (psycopg2, TCP on 127.0.0.1) of its ``database``."""
    run_as = "postgres" if os.geteuid() == 0 else None
    # Not under pytest's tmp_path: that is root-only (0700), and the server runs as postgres.
    directory = Path(tempfile.mkdtemp(prefix="wapiflow-pg-"))
    _owned_by(run_as, directory)
    data = directory / "data"
    log_path = directory / "postgres.log"
    as_user: dict[str, Any] = {"user": run_as, "group": run_as} if run_as else {}
    server: Server | None = None
    try:
        subprocess.run(
            [postgres_bin("initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True, cwd=directory, **as_user,
        )  # fmt: skip
        port = free_port()
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(port),
            "unix_socket_directories": str(directory),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        command = [postgres_bin("postgres"), "-D", str(data)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=directory, start_new_session=True, **as_user,
            )  # fmt: skip
        server = Server("postgres", popen, port, directory, log_path)
        wait_until(lambda: _accepts(port), timeout=60, what="PostgreSQL to start", alive=server.check_alive)
        import psycopg2

        connection = psycopg2.connect(host=LOOPBACK, port=port, user=user, dbname="postgres")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{database}"')
        finally:
            connection.close()
        yield server, f"postgresql+psycopg2://{user}@{LOOPBACK}:{port}/{database}"
    finally:
        if server is not None:
            server.stop(signal.SIGINT)  # "fast" shutdown: ends the sessions, no checkpoint wait
        shutil.rmtree(directory, ignore_errors=True)


def _accepts(port: int) -> bool | None:
    import psycopg2

    try:
        psycopg2.connect(host=LOOPBACK, port=port, user="airflow", dbname="postgres", connect_timeout=2).close()
    except psycopg2.OperationalError:
        return None
    return True


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[Server, str]]:
    """A running Redis without persistence and its broker URL (database 0)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(f"redis-server is not installed; {INSTALL_HINT}")
    directory = Path(tempfile.mkdtemp(prefix="wapiflow-redis-"))
    log_path = directory / "redis.log"
    port = free_port()
    server: Server | None = None
    try:
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
                 "--dir", str(directory), "--daemonize", "no"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        server = Server("redis", popen, port, directory, log_path)
        wait_until(lambda: _pong(port), timeout=30, what="Redis to answer PING", alive=server.check_alive)
        yield server, f"redis://{LOOPBACK}:{port}/0"
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _pong(port: int) -> bool | None:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return True if sock.recv(16).startswith(b"+PONG") else None
    except OSError:
        return None


def kill_process_tree(pid: int) -> list[int]:
    """
    SIGKILL a process, its process group and every descendant's group, as a machine death would.

    Airflow's task supervisor puts each task runner in a process group of its own, so killing the
    worker's group alone would leave the running tasks alive. Returns the killed pids.
    """
    import psutil

    try:
        leader = psutil.Process(pid)
        tree = [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    groups = {pid}
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
            groups.add(os.getpgid(proc.pid))
    groups.discard(os.getpgrp())  # never the test's own group
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(tree, timeout=10)
    return [proc.pid for proc in tree]
