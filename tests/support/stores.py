"""In-memory stand-ins for Airflow's task state store and asset state store, JSON-only like the real ones."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any


def _json(value: Any) -> Any:
    """``value`` as it comes back from a store that keeps JSON: tuples become lists, a non-JSON value fails."""
    return json.loads(json.dumps(value))


class MemoryTaskStateStore:
    """``context["task_state_store"]`` (get/set of one task instance's keys); counts reads."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.gets = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.gets += 1
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        self.values[key] = json.dumps(value)


class MemoryAssetStateStore:
    """The triggerer's ``asset_state_store`` of one asset (async aget/aset); counts writes."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return _json(self.values.get(key, default))

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = _json(value)
        self.writes += 1
