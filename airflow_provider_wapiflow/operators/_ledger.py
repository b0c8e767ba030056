"""
The delivery ledger: what earlier tries of this task instance sent, kept in Airflow's task state store.

Recipients go out in chunks. Before a chunk's first send, the ledger writes the chunk as ``sending``;
when the chunk is finished (or the try ends, whatever the reason) it writes which recipients were
delivered and which have an unknown outcome. A later try of the same task instance reads every
chunk: delivered recipients are skipped, unknown ones stay unknown, and the recipients of a chunk
that was still ``sending`` (the worker died mid-chunk) count as unknown, because any of them may
have been sent. Two writes per chunk, never one per message. The store is scoped by Airflow to
(dag, run, task, map index), so mapped instances keep separate ledgers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

KEY_PREFIX = "wapiflow_ledger"
CHUNK_SIZE = 100
MAX_TRIES_SCANNED = 100


class StateStore(Protocol):
    """The part of Airflow's ``TaskStateStoreAccessor`` the ledger uses."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, *, retention: Any = None) -> None: ...


@dataclass
class _Chunk:
    index: int
    digests: list[str]
    delivered: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    in_flight: set[str] = field(default_factory=set)
    pending: int = 0
    started: bool = False
    written: bool = False


@dataclass(frozen=True)
class History:
    """What earlier tries left: recipients delivered, and recipients whose outcome is unknown."""

    delivered: frozenset[str] = frozenset()
    unknown: frozenset[str] = frozenset()


class DeliveryLedger:
    """Records deliveries of one try; reads the deliveries of earlier tries."""

    def __init__(self, store: StateStore | None, try_number: int, log: Any) -> None:
        self.store = store
        self.try_number = try_number
        self.log = log
        self._chunks: dict[int, _Chunk] = {}
        self._chunk_of: dict[str, int] = {}
        self._lock = threading.Lock()
        self.writes = 0

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def _key(self, try_number: int, chunk: int) -> str:
        return f"{KEY_PREFIX}:{try_number}:{chunk}"

    def history(self) -> History:
        """Read every chunk written by earlier tries of this task instance."""
        if self.store is None:
            return History()
        delivered: set[str] = set()
        unknown: set[str] = set()
        for earlier in range(max(1, self.try_number - MAX_TRIES_SCANNED), self.try_number):
            chunk = 0
            while (entry := self.store.get(self._key(earlier, chunk))) is not None:
                if entry.get("state") == "sending":
                    unknown.update(entry.get("recipients", []))
                else:
                    delivered.update(entry.get("delivered", []))
                    unknown.update(entry.get("unknown", []))
                chunk += 1
        # A recipient unknown in one try and delivered in a later one is delivered.
        return History(delivered=frozenset(delivered), unknown=frozenset(unknown - delivered))

    def plan(self, digests: Iterable[str]) -> None:
        """Split the recipients of this try into chunks, in sending order."""
        for position, digest in enumerate(digests):
            index = position // CHUNK_SIZE
            chunk = self._chunks.setdefault(index, _Chunk(index, []))
            chunk.digests.append(digest)
            chunk.pending += 1
            self._chunk_of[digest] = index

    def before_send(self, digest: str) -> None:
        """Mark the recipient as in flight; the first send of a chunk first writes the chunk as ``sending``."""
        with self._lock:
            chunk = self._chunks[self._chunk_of[digest]]
            chunk.in_flight.add(digest)
            first = not chunk.started
            chunk.started = True
        if first:
            self._write(chunk.index, {"state": "sending", "recipients": chunk.digests})

    def record(self, digest: str, *, delivered: bool = False, unknown: bool = False) -> None:
        """Record the outcome of one recipient; writes its chunk once the whole chunk is done."""
        with self._lock:
            chunk = self._chunks[self._chunk_of[digest]]
            chunk.in_flight.discard(digest)
            if delivered:
                chunk.delivered.append(digest)
            elif unknown:
                chunk.unknown.append(digest)
            chunk.pending -= 1
            complete = chunk.pending == 0
        if complete:
            self._finish(chunk)

    def close(self) -> None:
        """
        Write every started chunk, whatever ended the try.

        A recipient still in flight (the try was interrupted before its answer was read) is unknown.
        """
        for chunk in self._chunks.values():
            if chunk.started and not chunk.written:
                self._finish(chunk)

    def _finish(self, chunk: _Chunk) -> None:
        with self._lock:
            if chunk.written:
                return
            chunk.written = True
            unknown = [*chunk.unknown, *sorted(chunk.in_flight)]
            value = {"state": "done", "delivered": list(chunk.delivered), "unknown": unknown}
        self._write(chunk.index, value)

    def _write(self, chunk: int, value: dict[str, Any]) -> None:
        if self.store is None:
            return
        # Default retention ([state_store] default_retention_days): the admin decides how long
        # a cleared task instance still remembers what it sent.
        self.store.set(self._key(self.try_number, chunk), value)
        self.writes += 1
