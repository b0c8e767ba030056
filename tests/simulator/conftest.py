"""Shared simulators for the simulator's own tests, talked to over real HTTP with ``requests``.

Two long-lived simulators (real-server and patched mode) are reset before each test: starting one
per test would cost a server start and stop each time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simulator_helpers import Api

from airflow_provider_wapiflow.testing import WapiFlowSimulator


def _fresh(sim: WapiFlowSimulator) -> WapiFlowSimulator:
    sim.reset_state()
    sim.clear_faults()
    sim.clear_requests()
    sim.latency = 0.0
    return sim


@pytest.fixture(scope="session")
def real_simulator() -> Iterator[WapiFlowSimulator]:
    with WapiFlowSimulator() as sim:
        yield sim


@pytest.fixture(scope="session")
def patched_simulator() -> Iterator[WapiFlowSimulator]:
    with WapiFlowSimulator(patched=True) as sim:
        yield sim


@pytest.fixture
def sim(real_simulator: WapiFlowSimulator) -> WapiFlowSimulator:
    """The real-server-mode simulator, reset."""
    return _fresh(real_simulator)


@pytest.fixture
def patched_sim(patched_simulator: WapiFlowSimulator) -> WapiFlowSimulator:
    """The patched-mode simulator, reset."""
    return _fresh(patched_simulator)


@pytest.fixture
def api(sim: WapiFlowSimulator) -> Api:
    return Api(sim)


@pytest.fixture
def patched_api(patched_sim: WapiFlowSimulator) -> Api:
    return Api(patched_sim)


@pytest.fixture(params=["real", "patched"])
def any_api(request: pytest.FixtureRequest) -> Api:
    """Both modes, for behaviour that does not depend on the server's bugs (docs/server-bugs.rst)."""
    sim = request.getfixturevalue("sim" if request.param == "real" else "patched_sim")
    return Api(sim)
