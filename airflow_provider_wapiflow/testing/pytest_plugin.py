"""pytest fixtures for testing code (and DAGs) against the WapiFlow simulator.

- ``wapiflow_simulator``: a started simulator (real-server mode), stopped after the test. Constructor
  arguments come from the marker: ``@pytest.mark.wapiflow_simulator(patched=True, latency=0.05)``.
- ``wapiflow_connection``: the same simulator, with ``AIRFLOW_CONN_WAPIFLOW_DEFAULT`` pointing at it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_wapiflow.testing import WapiFlowSimulator

MARKER = "wapiflow_simulator"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**kwargs): WapiFlowSimulator arguments for the wapiflow_simulator fixture "
        "(e.g. patched=True, latency=0.05, server_version='1.8')",
    )


@pytest.fixture
def wapiflow_simulator(request: pytest.FixtureRequest) -> Iterator[WapiFlowSimulator]:
    """A running WapiFlow simulator on 127.0.0.1 (a free port), stopped after the test."""
    marker = request.node.get_closest_marker(MARKER)
    kwargs = dict(marker.kwargs) if marker is not None else {}
    with WapiFlowSimulator(**kwargs) as simulator:
        yield simulator


@pytest.fixture
def wapiflow_connection(wapiflow_simulator: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> WapiFlowSimulator:
    """The simulator, with the ``wapiflow_default`` Airflow connection set to it through the environment."""
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", wapiflow_simulator.connection_json())
    return wapiflow_simulator
