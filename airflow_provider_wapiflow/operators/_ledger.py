"""
The delivery ledger: what earlier tries of this task instance sent, kept in an Airflow state store.

Recipients go out in chunks. Before the first send of a try, the ledger adds the try's chunk keys to
one cumulative index entry; before a chunk's first send it writes the chunk as ``sending``; when the
chunk is finished (or the try ends, whatever the reason) it writes which recipients were delivered
(with the time) and which have an unknown outcome. A later try reads the index and exactly the keys
it lists, so a try costs the same at try 2 and at try 102: delivered recipients are skipped, unknown
ones stay unknown, and the recipients of a chunk still ``sending`` (the worker died mid-chunk) count
as unknown, because any of them may have been sent. One write per try, two per chunk, never one per
message.

Where it lives: Airflow's task state store, scoped to (dag, run, task, map index). Clearing a task
instance does not wipe it (``clear_task_instances`` leaves it), so a cleared task remembers what it
sent. With ``[state_store] clear_on_success`` on, Airflow wipes that store when the task succeeds or is
marked success; the operators then keep the same entries in the asset state store of
:data:`LEDGER_ASSET` under a key prefix of the task instance (:class:`RunScopedStore`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

KEY_PREFIX = "wapiflow_ledger"
INDEX_KEY = f"{KEY_PREFIX}:index"
CHUNK_SIZE = 100


class StateStore(Protocol):
    """The part of Airflow's task / asset state store accessors the ledger uses."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


class RunScopedStore:
    """A state store accessor seen through a key prefix: one task instance's keys in a shared store."""

    def __init__(self, store: Any, prefix: str) -> None:
        self.store = store
        self.prefix = prefix

    def get(self, key: str, default: Any = None) -> Any:
        return self.store.get(f"{self.prefix}:{key}", default)

    def set(self, key: str, value: Any) -> None:
        self.store.set(f"{self.prefix}:{key}", value)


@dataclass
class _Chunk:
    index: int
    digests: list[str]
    delivered: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    in_flight: set[str] = field(default_factory=set)
    pending: int = 0
    started: bool = False
    written: bool = False


@dataclass(frozen=True)
class History:
    """What earlier tries left: recipients delivered (with when), and recipients whose outcome is unknown."""

    delivered_at: dict[str, str | None] = field(default_factory=dict)
    unknown: frozenset[str] = frozenset()

    @property
    def delivered(self) -> frozenset[str]:
        return frozenset(self.delivered_at)


class DeliveryLedger:
    """
    Records deliveries of one try; reads the deliveries of earlier tries. Used from one thread (the bulk run's loop).

    :param clear_number: the DAG run's clear count when this try started; with ``ignore_before_clear``
        entries written before the latest clear are not read (the user asked to send again after a clear).
    """

    def __init__(
        self,
        store: StateStore | None,
        try_number: int,
        log: Any,
        *,
        clear_number: int = 0,
        ignore_before_clear: bool = False,
    ) -> None:
        self.store = store
        self.try_number = try_number
        self.clear_number = clear_number
        self.ignore_before_clear = ignore_before_clear
        self.log = log
        self._chunks: dict[int, _Chunk] = {}
        self._chunk_of: dict[str, int] = {}
        self._resolved: dict[str, str] = {}
        self._index: list[list[Any]] | None = None
        self._seq: int | None = None
        self.writes = 0
        self.reads = 0

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def _key(self, chunk: int | str) -> str:
        # The index length when the try first wrote makes keys unique even if a try number comes back.
        if self._seq is None:
            self._seq = len(self._read_index())
        return f"{KEY_PREFIX}:{self.try_number}.{self._seq}:{chunk}"

    def _read_index(self) -> list[list[Any]]:
        if self._index is None:
            entry = self._get(INDEX_KEY) if self.store is not None else None
            self._index = [list(e) for e in entry.get("keys", [])] if isinstance(entry, dict) else []
        return self._index

    def _get(self, key: str) -> Any:
        assert self.store is not None
        self.reads += 1
        return self.store.get(key)

    def history(self) -> History:
        """Read every entry earlier tries of this task instance wrote (one read per listed key)."""
        if self.store is None:
            return History()
        delivered: dict[str, str | None] = {}
        unknown: set[str] = set()
        for key, clear_number in self._read_index():
            if self.ignore_before_clear and int(clear_number) < self.clear_number:
                continue
            entry = self._get(key)
            if not isinstance(entry, dict):
                continue  # planned, never started: nothing of it was sent
            if entry.get("state") == "sending":
                unknown.update(entry.get("recipients", []))
                continue
            done = entry.get("delivered", {})
            items = done.items() if isinstance(done, dict) else ((digest, None) for digest in done)
            for digest, at in items:
                delivered.setdefault(digest, at)  # the first delivery's time; the index is in time order
            unknown.update(entry.get("unknown", []))
        # A recipient unknown in one try and delivered (or resolved) in another is delivered.
        return History(delivered_at=delivered, unknown=frozenset(unknown - delivered.keys()))

    def plan(self, digests: Iterable[str]) -> None:
        """Split the recipients of this try into chunks, in sending order; list the chunks in the index."""
        for position, digest in enumerate(digests):
            index = position // CHUNK_SIZE
            chunk = self._chunks.setdefault(index, _Chunk(index, []))
            chunk.digests.append(digest)
            chunk.pending += 1
            self._chunk_of[digest] = index
        if self._chunks:
            self._add_to_index([self._key(i) for i in sorted(self._chunks)])

    def _add_to_index(self, keys: list[str]) -> None:
        if self.store is None:
            return
        index = self._read_index()
        index.extend([key, self.clear_number] for key in keys)
        self._write(INDEX_KEY, {"keys": index})

    def before_send(self, digest: str) -> None:
        """Mark the recipient as in flight; the first send of a chunk first writes the chunk as ``sending``."""
        chunk = self._chunks[self._chunk_of[digest]]
        chunk.in_flight.add(digest)
        first = not chunk.started
        chunk.started = True
        if first:
            self._write(self._key(chunk.index), {"state": "sending", "recipients": chunk.digests})

    def record(self, digest: str, *, delivered_at: str | None = None, unknown: bool = False) -> None:
        """Record one recipient's outcome (delivered when ``delivered_at`` is given); writes a finished chunk."""
        chunk = self._chunks[self._chunk_of[digest]]
        chunk.in_flight.discard(digest)
        if delivered_at is not None:
            chunk.delivered[digest] = delivered_at
        elif unknown:
            chunk.unknown.append(digest)
        chunk.pending -= 1
        complete = chunk.pending == 0
        if complete:
            self._finish(chunk)

    def resolve(self, resolved: dict[str, str]) -> None:
        """Record recipients whose unknown outcome the read-back proved sent (digest -> when)."""
        if not resolved:
            return
        self._resolved.update(resolved)
        key = self._key("resolved")
        if key not in {entry[0] for entry in self._read_index()}:
            self._add_to_index([key])
        self._write(key, {"state": "done", "delivered": dict(self._resolved), "unknown": []})

    def delivered_now(self) -> dict[str, str]:
        """Recipients this try delivered, with when."""
        found = {d: at for chunk in self._chunks.values() for d, at in chunk.delivered.items()}
        return {**found, **self._resolved}

    def close(self) -> None:
        """
        Write every started chunk, whatever ended the try.

        A recipient still in flight (the try was interrupted before its answer was read) is unknown.
        """
        for chunk in self._chunks.values():
            if chunk.started and not chunk.written:
                self._finish(chunk)

    def _finish(self, chunk: _Chunk) -> None:
        if chunk.written:
            return
        chunk.written = True
        unknown = [*chunk.unknown, *sorted(chunk.in_flight)]
        value = {"state": "done", "delivered": dict(chunk.delivered), "unknown": unknown}
        self._write(self._key(chunk.index), value)

    def _write(self, key: str, value: dict[str, Any]) -> None:
        if self.store is None:
            return
        # Default retention ([state_store] default_retention_days): the admin decides how long a
        # cleared task instance still remembers what it sent.
        self.store.set(key, value)
        self.writes += 1
