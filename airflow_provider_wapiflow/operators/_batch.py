"""Shared machinery of the bulk operators: bounded concurrency, progress lines, failure budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from airflow_provider_wapiflow.exceptions import WapiFlowInputError

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Entries kept in the lists of an XCom summary; the counts stay exact beyond it.
SUMMARY_LIST_CAP = 1000


def failure_budget(max_failures: int | float, total: int) -> int:
    """
    How many items may fail before the task fails: ``max_failures`` as a count (int) or a ratio (float).

    :raises WapiFlowInputError: a negative count or a ratio outside 0..1.
    """
    if isinstance(max_failures, bool) or not isinstance(max_failures, (int, float)):
        raise WapiFlowInputError(f"'max_failures' must be an int count or a float ratio, got {max_failures!r}")
    if isinstance(max_failures, float):
        if not 0.0 <= max_failures <= 1.0:
            raise WapiFlowInputError(f"'max_failures' as a ratio must be between 0.0 and 1.0, got {max_failures}")
        return int(max_failures * total)
    if max_failures < 0:
        raise WapiFlowInputError(f"'max_failures' must not be negative, got {max_failures}")
    return max_failures


def check_concurrency(concurrency: int) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise WapiFlowInputError(f"'concurrency' must be an integer from 1 to 64, got {concurrency!r}")
    return concurrency


class Progress:
    """Logs ``<verb> done/total (pct%), N failed`` at most every ``interval`` seconds, and at the end."""

    def __init__(self, log: Any, verb: str, total: int, interval: float = 5.0) -> None:
        self.log, self.verb, self.total, self.interval = log, verb, total, interval
        self.done = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def advance(self, *, failed: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.failed += failed
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
        self._emit()

    def finish(self) -> None:
        self._emit()

    def _emit(self) -> None:
        percent = 100 * self.done // self.total if self.total else 100
        self.log.info("%s %d/%d (%d%%), %d failed", self.verb, self.done, self.total, percent, self.failed)


def run_bounded(
    items: Iterable[Item],
    work: Callable[[Item], Result],
    *,
    concurrency: int,
    stop: threading.Event,
) -> Iterator[tuple[Item, Future[Result]]]:
    """
    Run ``work`` over ``items`` with at most ``concurrency`` calls in flight; yield each finished call.

    Once ``stop`` is set no new call starts; calls already in flight finish and are yielded. The
    caller reads the items that never started from what it did not get back.
    """
    pending: dict[Future[Result], Item] = {}
    iterator = iter(items)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="wapiflow") as pool:
        exhausted = False
        while True:
            while not exhausted and not stop.is_set() and len(pending) < concurrency:
                try:
                    item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                pending[pool.submit(work, item)] = item
            if not pending:
                return
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield pending.pop(future), future
