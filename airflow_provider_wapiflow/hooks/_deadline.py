"""
A total deadline for a blocking HTTP request (connect + the whole answer), for the sync hook.

``requests`` only has per-socket-read timeouts: a server that drips one byte every half second keeps
a request going for as long as it likes. One watchdog thread per process holds the deadlines of the
requests in flight; when one passes, it shuts the request's socket down, which wakes the blocked
read at once. The connection is found through the urllib3 pool, which hands it to the thread that
asked for it (``current_watch``).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from typing import Any

from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_LOCAL = threading.local()


class Watch:
    """The deadline of one request and the connection it runs on."""

    __slots__ = ("_lock", "connection", "deadline", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: Any = None
        self.expired = False
        self._lock = threading.Lock()

    def attach(self, connection: Any) -> None:
        with self._lock:
            self.connection = connection
            expired = self.expired
        if expired:
            _shut(connection)

    def expire(self) -> None:
        with self._lock:
            if self.expired:
                return
            self.expired = True
            connection = self.connection
        if connection is not None:
            _shut(connection)

    @property
    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    # socket.socket's own shutdown, also for an SSLSocket: it must not touch the TLS state that the
    # reading thread is using, only wake it up.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread that expires the watches whose deadline has passed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watch]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watch: Watch) -> None:
        with self._condition:
            heapq.heappush(self._heap, (watch.deadline, next(self._counter), watch))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="wapiflow-deadline", daemon=True)
                self._thread.start()
            self._condition.notify()

    def discard(self, watch: Watch) -> None:
        # Finished watches stay in the heap until their deadline: cheaper than a removal, and expiring a
        # finished watch does nothing (its connection is detached).
        with watch._lock:
            watch.connection = None

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap:
                    self._condition.wait()
                deadline, _, watch = self._heap[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._condition.wait(delay)
                    continue
                heapq.heappop(self._heap)
            watch.expire()


_WATCHDOG = _Watchdog()


class deadline:
    """``with deadline(seconds) as watch:`` every connection the thread takes meanwhile is watched."""

    def __init__(self, seconds: float) -> None:
        self.watch = Watch(time.monotonic() + seconds)

    def __enter__(self) -> Watch:
        _LOCAL.watch = self.watch
        _WATCHDOG.add(self.watch)
        return self.watch

    def __exit__(self, *exc: object) -> None:
        _LOCAL.watch = None
        _WATCHDOG.discard(self.watch)


def current_watch() -> Watch | None:
    return getattr(_LOCAL, "watch", None)


class _WatchedPool:
    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)  # type: ignore[misc]
        watch = current_watch()
        if watch is not None:
            watch.attach(connection)
        return connection


class WatchedHTTPConnectionPool(_WatchedPool, HTTPConnectionPool):
    """An urllib3 pool whose connections obey the thread's :class:`deadline`."""


class WatchedHTTPSConnectionPool(_WatchedPool, HTTPSConnectionPool):
    """An urllib3 pool whose connections obey the thread's :class:`deadline`."""
