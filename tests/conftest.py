"""
Test environment: a throw-away AIRFLOW_HOME with a SQLite metadata DB, set before Airflow is imported.

Each pytest process (the one of a serial run, or each pytest-xdist worker) has its own AIRFLOW_HOME and
SQLite file, so workers never share a database, a log folder or a file in the repository.

The WapiFlow simulator fixtures (``wapiflow_simulator``, ``wapiflow_connection``) come from the
provider's own pytest plugin, the same one users get; ``sim`` and ``context`` below build on them
with the helpers of :mod:`support`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
TEST_DAGS = ROOT / "tests" / "dags"
EXAMPLE_DAGS = ROOT / "example_dags"

# PYTEST_XDIST_WORKER ("gw0"…) is set before a worker imports this file; the name only helps to tell
# the homes apart, mkdtemp makes each one unique.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix=f"wapiflow-airflow-home-{_WORKER}-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(TEST_DAGS),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {
                    "name": "test-dags",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(TEST_DAGS), "refresh_interval": 0},
                },
                {
                    "name": "example-dags",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(EXAMPLE_DAGS), "refresh_interval": 0},
                },
            ]
        ),
    }
)
os.environ.pop("AIRFLOW_CONN_WAPIFLOW_DEFAULT", None)

import pytest  # noqa: E402
from support import MemoryTaskStateStore, set_connection, task_context  # noqa: E402

from airflow_provider_wapiflow.testing import WapiFlowSimulator  # noqa: E402

if TYPE_CHECKING:
    from airflow.sdk import Context

SIM_CONTACTS = "sim_contacts"
SIM_CONNECTION = "sim_connection"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{SIM_CONTACTS}(*contacts): contacts (firstname, lastname, mobile_code, mobile) the sim fixture adds",
    )
    config.addinivalue_line(
        "markers", f"{SIM_CONNECTION}(**extra): connection extras of wapiflow_default for the sim fixture"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the metadata DB once per session (SQLite in the temporary AIRFLOW_HOME)."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture
def sim(
    wapiflow_simulator: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> WapiFlowSimulator:
    """
    The test's simulator (``wapiflow_simulator``), with ``wapiflow_default`` pointing at it.

    Markers on the test or its module shape it: ``sim_connection(**extra)`` sets connection extras,
    ``sim_contacts(*contacts)`` adds contacts, each ``(firstname, lastname, mobile_code, mobile)``;
    ``wapiflow_simulator(**kwargs)`` still gives the simulator's own arguments.
    """
    extra: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(SIM_CONNECTION))):  # the closest marker wins
        extra.update(marker.kwargs)
    set_connection(monkeypatch, wapiflow_simulator, extra=extra)
    for marker in request.node.iter_markers(SIM_CONTACTS):
        for contact in marker.args:
            wapiflow_simulator.add_contact(*contact)
    return wapiflow_simulator


@pytest.fixture
def context() -> Context:
    """A task context for calling ``execute()`` directly: try 1, an empty task state store; see :mod:`support`."""
    return task_context(MemoryTaskStateStore())


@pytest.fixture
def run_dag(airflow_db: None):  # type: ignore[no-untyped-def]
    """Run a DAG file of tests/dags or example_dags for real with ``dag.test()``; see :mod:`dag_runs`."""
    from dag_runs import run_dag_file

    return run_dag_file


@pytest.fixture
def debug_logs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):  # type: ignore[no-untyped-def]
    """
    Everything logged at DEBUG while the test runs, as a function returning the text so far.

    Airflow's task SDK logs through structlog straight to stdout (not through stdlib logging), so
    both are captured: structlog at the file-descriptor level, stdlib (urllib3…) through caplog.
    """
    from airflow._shared.logging.structlog import PER_LOGGER_LEVELS

    saved = PER_LOGGER_LEVELS[""]
    PER_LOGGER_LEVELS[""] = logging.DEBUG
    capfd.readouterr()
    chunks: list[str] = []

    def read() -> str:
        captured = capfd.readouterr()
        chunks.append(captured.out + captured.err)
        return "".join(chunks) + caplog.text

    with caplog.at_level(logging.DEBUG):
        yield read
    PER_LOGGER_LEVELS[""] = saved
