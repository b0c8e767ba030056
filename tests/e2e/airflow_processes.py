"""
Real Airflow components for the end-to-end tests, each in its own process group, all on 127.0.0.1.

:class:`AirflowDeployment` owns a throw-away AIRFLOW_HOME (SQLite metadata DB, LocalExecutor,
SimpleAuthManager with a known admin password), starts ``airflow <component>`` processes with
``start_new_session=True`` and stops every one of them (SIGTERM to the process group, then SIGKILL)
when the ``with`` block ends, whatever happened inside it.

What binds where: the API server listens on 127.0.0.1:<free port>; scheduler and triggerer run with
``--skip-serve-logs`` so that their log servers (which would bind all interfaces on 8793/8794) never
start; the scheduler's health-check server stays off (its default); the dag-processor opens no port.
Task logs are read by the API server straight from ``$AIRFLOW_HOME/logs``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
VENV_BIN = Path(sys.executable).parent
AIRFLOW = str(VENV_BIN / "airflow")
ADMIN_USER = "admin"
LOOPBACK = "127.0.0.1"

T = TypeVar("T")


def free_port() -> int:
    """A TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], T | None], *, timeout: float, interval: float = 0.5, what: str, alive: Callable[[], None]
) -> T:
    """Call ``check`` until it returns something other than None; ``alive`` raises if a process died."""
    deadline = time.monotonic() + timeout
    while True:
        alive()
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class ManagedProcess:
    """One started command; its output goes to ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def running(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the whole process group (the command and every child it forked), then SIGKILL."""
        pgid = self.popen.pid  # start_new_session=True: the child leads its own group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace)
        # Children (uvicorn workers, task supervisors) may outlive the leader: always sweep the group.
        deadline = time.monotonic() + 5
        while _group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class AirflowDeployment:
    """A throw-away Airflow installation whose components run as real processes on loopback."""

    home: Path
    dags_folder: Path
    api_port: int
    admin_password: str
    env: dict[str, str]
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @classmethod
    def create(
        cls, home: Path, dags_folder: Path | None = None, extra_env: Mapping[str, str] | None = None
    ) -> AirflowDeployment:
        from cryptography.fernet import Fernet

        home.mkdir(parents=True, exist_ok=True)
        dags = dags_folder or home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        port = free_port()
        password = secrets.token_urlsafe(12)
        passwords_file = home / "passwords.json"
        passwords_file.write_text(json.dumps({ADMIN_USER: password}))
        # Nothing of the test process's own Airflow settings (its AIRFLOW_HOME, DB, bundles) leaks in.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "AIRFLOW_HOME"))
        }
        env.update(
            {
                "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1",
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{port}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                "AIRFLOW__API__HOST": LOOPBACK,
                "AIRFLOW__API__PORT": str(port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                # The scheduler signs the workers' execution-API tokens, the API server checks them.
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            }
        )
        env.update(extra_env or {})
        return cls(home=home, dags_folder=dags, api_port=port, admin_password=password, env=env)

    # -- processes -------------------------------------------------------------------------------

    def run_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run one ``airflow`` CLI command to completion; raise with its output if it fails."""
        done = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done

    def run_python(self, code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``code`` in a fresh Python process that sees this deployment's configuration."""
        return subprocess.run(
            [sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def migrate(self) -> None:
        self.run_cli("db", "migrate")

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> ManagedProcess:
        log_path = self.home / f"{name}.out"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                [AIRFLOW, *args],
                env={**self.env, **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.home,
                start_new_session=True,
            )
        process = ManagedProcess(name=name, popen=popen, log_path=log_path)
        self.processes.append(process)
        return process

    def start_api_server(self, env: Mapping[str, str] | None = None) -> ManagedProcess:
        return self.start("api-server", "api-server", "-H", LOOPBACK, "-p", str(self.api_port), "-w", "1", env=env)

    def start_scheduler_stack(self, env: Mapping[str, str] | None = None) -> None:
        """Scheduler (LocalExecutor), dag-processor and triggerer, without their log servers."""
        self.start("scheduler", "scheduler", "--skip-serve-logs", env=env)
        self.start("dag-processor", "dag-processor", env=env)
        self.start("triggerer", "triggerer", "--skip-serve-logs", env=env)

    def start_celery_worker(
        self, name: str, *, concurrency: int = 2, env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        """``airflow celery worker`` named ``name`` (its Celery node name), without its log server."""
        return self.start(
            name, "celery", "worker", "-H", f"{name}@{LOOPBACK}", "-c", str(concurrency), "--skip-serve-logs", env=env
        )

    def check_alive(self) -> None:
        """Raise with the log tail of any started process that has exited."""
        for process in self.processes:
            if not process.running():
                raise RuntimeError(
                    f"airflow {process.name} exited with {process.popen.returncode}:\n{process.log_tail()}"
                )

    def listening(self) -> dict[str, set[str]]:
        """``host:port`` of every TCP socket listened on by each started process and its children."""
        import psutil

        found: dict[str, set[str]] = {}
        for process in self.processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                leader = psutil.Process(process.popen.pid)
                for proc in (leader, *leader.children(recursive=True)):
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        for sock in proc.net_connections(kind="tcp"):
                            if sock.status == psutil.CONN_LISTEN:
                                found.setdefault(process.name, set()).add(f"{sock.laddr.ip}:{sock.laddr.port}")
        return found

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self, lines: int = 40) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.log_tail(lines)}" for p in self.processes)

    # -- REST ------------------------------------------------------------------------------------

    def wait_for_api(self, timeout: float = 90) -> None:
        def healthy() -> bool | None:
            try:
                answer = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=2)
            except requests.RequestException:
                return None
            return True if answer.status_code == 200 else None

        wait_until(healthy, timeout=timeout, what="the API server's health endpoint", alive=self.check_alive)

    def token(self) -> str:
        answer = requests.post(
            f"{self.api_url}/auth/token",
            json={"username": ADMIN_USER, "password": self.admin_password},
            timeout=10,
        )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def rest(self) -> RestClient:
        return RestClient(self.api_url, self.token())


class RestClient:
    """Airflow's public REST API (``/api/v2``) as the admin user."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, *, expect: int | tuple[int, ...] = 200, **kwargs: Any) -> Any:
        answer = self.session.request(method, f"{self.base_url}/api/v2/{path.lstrip('/')}", timeout=30, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if answer.status_code not in expected:
            raise AssertionError(f"{method} {path} answered {answer.status_code}: {answer.text[:2000]}")
        return answer.json() if answer.content else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json=body, **kwargs)


@contextlib.contextmanager
def airflow_deployment(
    home: Path, dags_folder: Path | None = None, extra_env: Mapping[str, str] | None = None
) -> Iterator[AirflowDeployment]:
    """A migrated deployment; every process started through it is stopped when the block ends."""
    deployment = AirflowDeployment.create(home, dags_folder, extra_env)
    deployment.migrate()
    try:
        yield deployment
    except BaseException:
        deployment.stop_all()
        save_logs(deployment)
        raise
    finally:
        deployment.stop_all()


def save_logs(deployment: AirflowDeployment) -> None:
    """Keep the component logs of a failed run in test-artifacts/, next to the screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    for process in deployment.processes:
        with contextlib.suppress(OSError):
            target = ARTIFACTS / f"{deployment.home.name}-{process.name}.log"
            target.write_bytes(process.log_path.read_bytes())


def wait_for_dag(rest: RestClient, deployment: AirflowDeployment, dag_id: str, *, timeout: float) -> None:
    """Wait until the dag-processor has serialized ``dag_id`` (unpaused); an import error fails at once."""

    def parsed() -> bool | None:
        dag = rest.get(f"dags/{dag_id}", expect=(200, 404))
        if dag and dag.get("dag_id") == dag_id and not dag["is_paused"]:
            return True
        errors = rest.get("importErrors")["import_errors"]
        if errors:
            raise AssertionError(f"the dag-processor could not import the DAGs: {errors}")
        return None

    wait_until(parsed, timeout=timeout, what=f"the dag-processor to serialize {dag_id}", alive=deployment.check_alive)
