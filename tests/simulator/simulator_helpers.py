"""Helpers shared by the simulator tests (a uniquely named module: tests have no packages)."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_wapiflow.testing import WapiFlowSimulator

HEADERS = {"client-id": "wapiflow-test-client", "client-secret": "wapiflow-test-secret"}
SPAIN = ("34", "600111222")
MEXICO = ("52", "5512345678")


class Api:
    """A thin ``requests`` client for one simulator: paths are relative to ``/external-api/``."""

    def __init__(self, sim: WapiFlowSimulator) -> None:
        self.sim = sim

    def call(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 5)
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, f"{self.sim.base_url}/{path}", headers={**HEADERS, **(headers or {})}, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call and return the decoded body, asserting the envelope's HTTP 200."""
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        return response.json()


def template_id(sim: WapiFlowSimulator, name: str) -> int:
    return int(next(t["id"] for t in sim.templates() if t["name"] == name))
