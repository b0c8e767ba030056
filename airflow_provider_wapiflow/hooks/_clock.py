"""WapiFlow's clock, estimated from the ``Date`` header of its answers (shared by both hooks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from airflow_provider_wapiflow.hooks._envelope import header, server_date


class ServerClock:
    """
    The offset between WapiFlow's clock and the worker's, from the ``Date`` headers seen so far.

    A ``Date`` header has whole seconds and is written before the answer travels, so an answer with
    ``Date: D`` received at worker time ``t`` bounds the offset: ``D - t <= offset < D + 1 - t``
    (plus the answer's one-way latency). The bounds of every answer are intersected. :meth:`now`
    gives the **upper** bound by default (it errs late, at most 1 s, never earlier by more than one
    answer's latency) and the lower bound with ``earliest=True`` (it errs early, at most 1 s). The
    read-back of unknown sends takes a send's start with ``earliest=True``: a message stored in the
    same second as the start is then never missed, and only another API send to the same contact
    within the second before could be mistaken for ours. When the bounds stop overlapping
    (either clock was set), the latest answer starts a new estimate. Before any answer: the
    worker's clock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._low: float | None = None
        self._high: float | None = None
        self._date: tuple[str, float] | None = None
        """The last ``Date`` header and its timestamp: a busy batch gets the same one hundreds of times."""

    def observe(self, headers: Mapping[str, str], received: float | None = None) -> None:
        """Take the ``Date`` header of an answer received at worker time ``received`` (epoch seconds)."""
        value = header(headers, "date")
        if not value:
            return
        cached = self._date
        if cached is not None and cached[0] == value:
            stamp = cached[1]
        else:
            date = server_date(headers)
            if date is None:
                return
            stamp = date.timestamp()
            self._date = (value, stamp)
        received = time.time() if received is None else received
        low = stamp - received
        high = low + 1.0
        with self._lock:
            if self._low is None or self._high is None or low >= self._high or high <= self._low:
                self._low, self._high = low, high
            else:
                self._low, self._high = max(self._low, low), min(self._high, high)

    @property
    def offset(self) -> float | None:
        """Seconds to add to the worker's clock, or None before any answer with a ``Date``."""
        with self._lock:
            return self._high

    def now(self, *, earliest: bool = False) -> datetime:
        """
        WapiFlow's clock now: by default the latest it can be; ``earliest`` the earliest it can be.

        The read-back of unknown sends takes the earliest bound as the send's start, so a message
        WapiFlow stored in the same second as the start is never missed.
        """
        with self._lock:
            offset = self._low if earliest else self._high
        return datetime.now(timezone.utc) + timedelta(seconds=offset or 0.0)
