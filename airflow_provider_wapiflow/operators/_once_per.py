"""
The cross-run guard ``once_per``: a recipient messaged under a key by any run or mapped instance is skipped.

It lives in Airflow's asset state store (``asset_state_store``) of :data:`SENDS_ASSET`: the only
Airflow-native store that outlives a DAG run and that mapped instances and other runs can all read
and write, with one row per key (no read-modify-write of a shared value, so concurrent mapped
instances do not overwrite each other). One entry per recipient and key: a read before the send, a
claim (``sending``) just before it, and its outcome after it (``sent`` or ``unknown``; a send that
certainly failed releases the claim). Rows are kept until deleted (the asset store has no retention).

Limits: the read and the claim are two calls, not one atomic step: two runs that reach the same
recipient within that instant can both send. A claim left ``sending`` by a killed worker counts as
already messaged (the send may have gone out).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Asset

SENDS_ASSET = Asset(name="wapiflow_sends", uri="wapiflow://sends")
"""The asset whose state store keeps the ``once_per`` memory (and the ledger when Airflow wipes task state)."""

_MAX_KEY = 500


class OncePerGuard:
    """Per-recipient memory of one ``once_per`` key, scoped to a DAG and task."""

    def __init__(self, store: Any, *, dag_id: str, task_id: str, key: str) -> None:
        self.store = store
        prefix = f"once_per:{dag_id}.{task_id}:{key}"
        if len(prefix) + 21 > _MAX_KEY:
            prefix = "once_per:" + hashlib.sha256(prefix.encode()).hexdigest()[:32]
        self.prefix = prefix
        self.calls = 0

    def _key(self, digest: str) -> str:
        return f"{self.prefix}:{digest}"

    def state(self, digest: str) -> str | None:
        """``sent``, ``unknown``, ``sending`` (claimed, outcome never written), or None (never messaged)."""
        self.calls += 1
        value = self.store.get(self._key(digest))
        return value.get("state") if isinstance(value, dict) else None

    def claim(self, digest: str, who: str) -> None:
        self.calls += 1
        self.store.set(self._key(digest), {"state": "sending", "by": who})

    def sent(self, digest: str, at: str | None, who: str) -> None:
        self.calls += 1
        at = at or datetime.now(timezone.utc).isoformat()
        self.store.set(self._key(digest), {"state": "sent", "at": at, "by": who})

    def unknown(self, digest: str, who: str) -> None:
        self.calls += 1
        self.store.set(self._key(digest), {"state": "unknown", "by": who})

    def release(self, digest: str) -> None:
        """Nothing was sent: a later run may send."""
        self.calls += 1
        self.store.delete(self._key(digest))
