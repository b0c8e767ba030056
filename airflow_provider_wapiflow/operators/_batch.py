"""Shared machinery of the bulk operators: bounded concurrency, progress lines, failure budget."""

from __future__ import annotations

import ast
import contextlib
import json
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


def rendered_list(value: Any, field: str) -> Any:
    """
    A list that a template rendered to text (a DAG without ``render_template_as_native_obj``).

    Parsed as JSON, or as the Python literal Jinja makes of a list; never evaluated as code.
    """
    if not isinstance(value, str):
        return value
    parsed: Any = None
    try:
        parsed = json.loads(value)
    except ValueError:
        with contextlib.suppress(ValueError, SyntaxError):
            parsed = ast.literal_eval(value)
    if isinstance(parsed, (list, tuple)):
        return list(parsed)
    raise WapiFlowInputError(
        f"'{field}' rendered to text that is not a list; pass the XComArg itself "
        f"(e.g. {field}=upstream_task.output) or set render_template_as_native_obj=True on the DAG"
    )


def check_concurrency(concurrency: int) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise WapiFlowInputError(f"'concurrency' must be an integer from 1 to 64, got {concurrency!r}")
    return concurrency


class Progress:
    """Logs ``<verb> done/total (pct%), N failed[, M unknown]`` at most every ``interval`` seconds, and at the end."""

    def __init__(self, log: Any, verb: str, total: int, interval: float = 5.0) -> None:
        self.log, self.verb, self.total, self.interval = log, verb, total, interval
        self.done = 0
        self.failed = 0
        self.unknown = 0
        self._lock = threading.Lock()
        self._last = time.monotonic()
        self._last_logged = -1

    def advance(self, *, failed: bool = False, unknown: bool = False) -> None:
        with self._lock:
            self.done += 1
            self.failed += failed
            self.unknown += unknown
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
        self._emit()

    def finish(self) -> None:
        if self._last_logged != self.done:
            self._emit()

    def _emit(self) -> None:
        self._last_logged = self.done
        percent = 100 * self.done // self.total if self.total else 100
        unknown = f", {self.unknown} unknown" if self.unknown else ""
        self.log.info("%s %d/%d (%d%%), %d failed%s", self.verb, self.done, self.total, percent, self.failed, unknown)


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
