"""The ``wapiflow_default`` connection of a test, pointed at a simulator through the environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import pytest

from airflow_provider_wapiflow.testing import WapiFlowSimulator

ENV = "AIRFLOW_CONN_WAPIFLOW_DEFAULT"


class ConnectionSource(Protocol):
    """A server that gives its connection as JSON: the simulator, or a raw test server."""

    def connection_json(self, conn_id: str = ..., **extra: Any) -> str: ...


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    server: ConnectionSource,
    *,
    extra: Mapping[str, Any] | None = None,
    **fields: Any,
) -> None:
    """
    Point ``wapiflow_default`` at ``server`` for this test.

    ``extra`` overrides the server's default extras; ``fields`` then replace top-level fields of the
    connection (``password``, ``conn_type``, or ``extra`` as a whole); a field given as None is left out.
    """
    connection = json.loads(server.connection_json(**dict(extra or {})))
    connection.update(fields)
    monkeypatch.setenv(ENV, json.dumps({key: value for key, value in connection.items() if value is not None}))


def template_id_of(sim: WapiFlowSimulator, name: str) -> int:
    """The id of the simulator's template ``name``."""
    return int(next(t["id"] for t in sim.templates() if t["name"] == name))
