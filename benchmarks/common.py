"""
What every benchmark shares: sizes, an isolated Airflow home, the simulator in its own process,
process-level measurements (wall, CPU, RSS) and the results table.

The simulator always runs in a child process, so the process being measured pays only for the
provider's work, the way it would against the real WapiFlow, and the two share the machine's cores
the way a worker and a remote server would not (reported next to every figure: the simulator's
CPU use during the run shows whether it, rather than the provider, limited the measurement).
"""

from __future__ import annotations

import contextvars
import json
import math
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: Seconds the simulator adds to every request unless --latency says otherwise.
DEFAULT_LATENCY = 0.02
#: The bulk operators' default ``concurrency``: the ideal times divide by it.
OPERATOR_CONCURRENCY = 8
#: First national number of generated contacts (Spanish mobiles: valid for ``phonenumbers``).
FIRST_MOBILE = 600_000_001

Number = int | float


@dataclass(frozen=True)
class Sizes:
    """How much work each benchmark does."""

    upsert_rows: int = 10_000
    upsert_existing: int = 3_000
    upsert_changed: int = 1_000
    send_recipients: int = 5_000
    send_recipients_c32: int = 8_000
    send_rate_limited_recipients: int = 3_000
    send_rate_limit: int = 200
    """Requests per second the simulator allows in the rate-limited send (429 above it)."""
    iter_contacts: int = 1_000_000
    iter_page_size: int = 1_000
    parse_runs: int = 9
    triggers: int = 1_000
    trigger_poll_interval: float = 3.0
    trigger_windows: int = 3

    def scaled(self, factor: float) -> Sizes:
        """Every count multiplied by ``factor`` (at least 1; the parse runs and poll settings stay)."""

        def n(value: int) -> int:
            return max(1, round(value * factor))

        return replace(
            self,
            upsert_rows=n(self.upsert_rows),
            upsert_existing=n(self.upsert_existing),
            upsert_changed=n(self.upsert_changed),
            send_recipients=n(self.send_recipients),
            send_recipients_c32=n(self.send_recipients_c32),
            send_rate_limited_recipients=n(self.send_rate_limited_recipients),
            iter_contacts=n(self.iter_contacts),
            triggers=n(self.triggers),
        )


FULL = Sizes()
#: For ``make test``: everything runs, in seconds, so that the benchmarks cannot rot.
TINY = Sizes(
    upsert_rows=40,
    upsert_existing=12,
    upsert_changed=4,
    send_recipients=20,
    send_recipients_c32=40,
    send_rate_limited_recipients=30,
    send_rate_limit=40,
    iter_contacts=3_000,
    iter_page_size=1_000,
    parse_runs=1,
    triggers=10,
    trigger_poll_interval=0.5,
    trigger_windows=1,
)


@dataclass(frozen=True)
class Settings:
    sizes: Sizes
    latency: float
    workdir: Path
    concurrency: int = OPERATOR_CONCURRENCY


@dataclass
class Outcome:
    """What one benchmark measured: JSON results and the rows it adds to the printed table."""

    results: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    """(measure, value, target, verdict)"""

    def row(self, measure: str, value: str, target: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else ("met" if met else "MISSED")
        self.rows.append((measure, value, target, verdict))


# --- the environment ---------------------------------------------------------------------------------


def prepare_environment(workdir: Path) -> dict[str, str]:
    """
    Point Airflow at a throw-away home before it is imported, and return the environment for children.

    Bytecode is cached in a directory kept between runs (the development shell sets
    PYTHONDONTWRITEBYTECODE; a deployed Airflow has compiled modules): processes measure imports,
    not compiles.
    """
    pycache = Path(tempfile.gettempdir()) / "wapiflow-bench-pycache"
    home = workdir / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "PYTHONPYCACHEPREFIX": str(pycache),
        }
    )
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.pop("AIRFLOW_CONN_WAPIFLOW_DEFAULT", None)
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(pycache)
    return dict(os.environ)


@contextmanager
def connection(conn_json: str) -> Iterator[None]:
    """Make ``wapiflow_default`` point at a simulator for the duration of the block."""
    os.environ["AIRFLOW_CONN_WAPIFLOW_DEFAULT"] = conn_json
    try:
        yield
    finally:
        os.environ.pop("AIRFLOW_CONN_WAPIFLOW_DEFAULT", None)


def run_child(module: str, args: Mapping[str, Any], *, timeout: float) -> dict[str, Any]:
    """Run ``python -m <module> <json args>`` in a fresh process and return the JSON it prints last."""
    completed = subprocess.run(
        [sys.executable, "-m", module, json.dumps(dict(args))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{module} failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{module} printed no result:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --- the simulator in its own process ----------------------------------------------------------------


class SimProcess:
    """
    A :class:`~airflow_provider_wapiflow.testing.WapiFlowSimulator` served by a child process.

    ``call(name, *args)`` runs a simulator method (or reads an attribute) in the child and returns
    its (picklable) result; ``cpu_seconds()`` is the child's CPU time so far.
    """

    def __init__(self, **simulator_kwargs: Any) -> None:
        # The answer leaves `latency` after the request arrived, processing included: a real server
        # processes requests in parallel workers, the simulator one at a time in one event loop, and
        # that queueing must not be charged to the client being measured.
        self.kwargs = {"latency_includes_processing": True, **simulator_kwargs}
        self._pipe: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.connection_json = ""
        self.base_url = ""
        self.client_id = ""
        self.client_secret = ""

    def __enter__(self) -> SimProcess:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(target=_serve_simulator, args=(child, self.kwargs), daemon=True)
        self._process.start()
        child.close()
        self._pipe = parent
        info = self._receive()
        self.connection_json = info["connection_json"]
        self.base_url = info["base_url"]
        self.client_id = info["client_id"]
        self.client_secret = info["client_secret"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pipe is not None:
            try:
                self._pipe.send(("stop", (), {}))
                self._pipe.recv()
            except (OSError, EOFError):
                pass
            self._pipe.close()
            self._pipe = None
        if self._process is not None:
            self._process.join(timeout=15)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(timeout=5)
            self._process = None

    def _receive(self) -> Any:
        assert self._pipe is not None
        status, value = self._pipe.recv()
        if status != "ok":
            raise RuntimeError(f"simulator process: {value}")
        return value

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        assert self._pipe is not None, "use SimProcess as a context manager"
        self._pipe.send((name, args, kwargs))
        return self._receive()

    def cpu_seconds(self) -> float:
        return float(self.call("__cpu__"))

    def request_count(self, **filters: Any) -> int:
        return int(self.call("request_count", **filters))


def _serve_simulator(pipe: Connection, kwargs: dict[str, Any]) -> None:
    from airflow_provider_wapiflow.testing import WapiFlowSimulator

    try:
        simulator = WapiFlowSimulator(**kwargs).start()
    except Exception as error:
        pipe.send(("error", repr(error)))
        return
    try:
        pipe.send(
            (
                "ok",
                {
                    "connection_json": simulator.connection_json(),
                    "base_url": simulator.base_url,
                    "client_id": simulator.client_id,
                    "client_secret": simulator.client_secret,
                },
            )
        )
        while True:
            try:
                name, args, call_kwargs = pipe.recv()
            except EOFError:
                return
            if name == "stop":
                pipe.send(("ok", None))
                return
            try:
                if name == "__cpu__":
                    value: Any = cpu_seconds()
                else:
                    target = getattr(simulator, name)
                    value = target(*args, **call_kwargs) if callable(target) else target
            except Exception as error:
                pipe.send(("error", f"{name}: {error!r}"))
            else:
                pipe.send(("ok", value))
    finally:
        simulator.stop()


# --- measuring ---------------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU time (user + system) of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_kb(field_name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field_name}")


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    return _status_kb("VmRSS") / 1024


class PeakRss:
    """
    The highest RSS reached inside a ``with`` block, in MiB.

    Resets the kernel's high-water mark (``/proc/self/clear_refs``) and reads ``VmHWM`` at the end;
    where that is not allowed, a thread samples ``VmRSS`` every 2 ms instead.
    """

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self.method = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRss:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
                clear.write("5")
            self.method = "VmHWM"
        except OSError:
            self.method = "sampled"
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.peak_mb = max(self.peak_mb, rss_mb())
        else:
            self.peak_mb = _status_kb("VmHWM") / 1024


@dataclass
class Span:
    wall: float = 0.0
    cpu: float = 0.0
    sim_cpu: float = 0.0


@contextmanager
def measured(sim: SimProcess | None = None) -> Iterator[Span]:
    """Wall time, this process's CPU time and the simulator's CPU time spent inside the block."""
    span = Span()
    sim_cpu = sim.cpu_seconds() if sim is not None else 0.0
    cpu = cpu_seconds()
    started = time.perf_counter()
    try:
        yield span
    finally:
        span.wall = time.perf_counter() - started
        span.cpu = cpu_seconds() - cpu
        if sim is not None:
            span.sim_cpu = sim.cpu_seconds() - sim_cpu


def ideal_seconds(requests: int, latency: float, concurrency: int) -> float:
    """The physical limit: every request costs the injected latency, ``concurrency`` at a time."""
    return requests * latency / concurrency


def pages(count: int, page_size: int) -> int:
    """List requests needed to read ``count`` items (one even when there are none)."""
    return max(1, math.ceil(count / page_size))


def mobile(index: int) -> str:
    return str(FIRST_MOBILE + index)


# --- a task context without an Airflow database ------------------------------------------------------


class FakeTaskInstance:
    """The two things the operators use from ``context["ti"]``."""

    try_number = 1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class MemoryStateStore:
    """Airflow 3.3's task state store, in a dict (the delivery ledger reads and writes it)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = json.loads(json.dumps(value))  # what a real store keeps: JSON
        self.writes += 1


def task_context() -> dict[str, Any]:
    return {"ti": FakeTaskInstance(), "task_state_store": MemoryStateStore()}


def warm_imports() -> None:
    """
    Import what a bulk run imports on first use (aiohttp, yarl, multidict), before the measured span.

    A worker process pays those imports once, not per request: CPU per request is the steady state.
    The import cost itself is what the parse benchmark measures.
    """
    import aiohttp  # noqa: F401
    import yarl  # noqa: F401


def run_operator(operator: Any, context: dict[str, Any]) -> Any:
    """``operator.execute(context)`` the way Airflow's task runner calls it (no "outside the runner" warning)."""
    from airflow.sdk.bases.operator import ExecutorSafeguard

    run = contextvars.copy_context()
    run.run(ExecutorSafeguard.tracker.set, operator)
    return run.run(operator.execute, context)


# --- formatting --------------------------------------------------------------------------------------


def ratio(value: float) -> str:
    return f"{value:.2f}x"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def machine() -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_1m_at_start": round(load1, 2),
        "load_average_5m_at_start": round(load5, 2),
    }


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    header = ("benchmark", "measure", "value", "target", "")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    line = "  ".join("-" * w for w in widths)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    print(line)
    previous = None
    for row in rows:
        cells = list(row)
        if cells[0] == previous:
            cells[0] = ""
        else:
            previous = cells[0]
        print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())


def temporary_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="wapiflow-bench-"))
