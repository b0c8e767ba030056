"""Shared machinery of the bulk operators: bounded concurrency, progress lines, failure budget."""

from __future__ import annotations

import ast
import contextlib
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_wapiflow.exceptions import WapiFlowError, WapiFlowInputError, WapiFlowRateLimitError

try:
    from airflow.exceptions import AirflowProviderDeprecationWarning
except ImportError:  # pragma: no cover - Airflow without it
    AirflowProviderDeprecationWarning = DeprecationWarning  # type: ignore[misc,assignment]

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Entries kept in the lists of an XCom summary; the counts stay exact beyond it.
SUMMARY_LIST_CAP = 1000


def deprecated_ratio(max_failures: int | float | None, max_failure_rate: float | None) -> tuple[int, float | None]:
    """
    Split the old ``max_failures`` spelling: a float there is a rate (deprecated), an int a count.

    :return: ``(max_failures, max_failure_rate)`` as the operators keep them.
    :raises WapiFlowInputError: a wrong type, a negative count or a rate outside 0..1.
    """
    if isinstance(max_failures, float):
        warnings.warn(
            f"max_failures={max_failures!r} as a float (a rate of the recipients) is deprecated: a value from "
            "JSON conf can flip between a count and a rate; use max_failure_rate for a rate, max_failures "
            "for a count",
            AirflowProviderDeprecationWarning,
            stacklevel=4,
        )
        if max_failure_rate is not None:
            raise WapiFlowInputError("give 'max_failure_rate' only, not also a float 'max_failures'")
        max_failures, max_failure_rate = 0, max_failures
    if max_failures is None:
        max_failures = 0
    if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 0:
        raise WapiFlowInputError(f"'max_failures' must be a count (an integer >= 0), got {max_failures!r}")
    if max_failure_rate is not None and (
        isinstance(max_failure_rate, bool)
        or not isinstance(max_failure_rate, (int, float))
        or not 0.0 <= max_failure_rate <= 1.0
    ):
        raise WapiFlowInputError(f"'max_failure_rate' must be a number from 0.0 to 1.0, got {max_failure_rate!r}")
    return max_failures, None if max_failure_rate is None else float(max_failure_rate)


def failure_budget(max_failures: int, max_failure_rate: float | None, total: int) -> int:
    """How many items may fail before the task fails: the larger of the count and the rate of ``total``."""
    by_rate = int(max_failure_rate * total) if max_failure_rate is not None else 0
    return max(max_failures, by_rate)


def describe_budget(max_failures: int, max_failure_rate: float | None) -> str:
    rate = f", max_failure_rate={max_failure_rate!r}" if max_failure_rate is not None else ""
    return f"max_failures={max_failures!r}{rate}"


_UNRETRYABLE: dict[type[BaseException], type[BaseException]] = {}


def fail_without_retry(error: WapiFlowError) -> WapiFlowError:
    """
    The same error, also an ``AirflowFailException`` so that Airflow does not retry the task.

    For what no retry can fix (bad input, credentials, plan). The result is an instance of both the
    WapiFlow error class and ``AirflowFailException``; the original is chained as ``__cause__``.
    """
    cls = type(error)
    if isinstance(error, AirflowFailException):
        return error
    combined = _UNRETRYABLE.get(cls)
    if combined is None:
        name = f"Unretryable{cls.__name__}"
        combined = type(name, (cls, AirflowFailException), {"__module__": __name__, "__qualname__": name})
        globals()[name] = combined  # importable by name, so the error pickles
        _UNRETRYABLE[cls] = combined
    copy = combined.__new__(combined)
    Exception.__init__(copy, error.message)
    copy.__dict__.update(error.__dict__)
    copy.__cause__ = error
    return copy  # type: ignore[return-value]


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


def check_rate_limit_timeout(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise WapiFlowInputError(f"'rate_limit_timeout' must be a positive number of seconds, got {seconds!r}")
    return float(seconds)


class Progress:
    """
    Logs ``processed done/total (pct%): N <verb>, N failed, N unknown`` at most every ``interval`` seconds.

    Counts what happened, never "sent 19/19" when 4 of them failed.
    """

    def __init__(self, log: Any, verb: str, total: int, interval: float = 5.0) -> None:
        self.log, self.verb, self.total, self.interval = log, verb, total, interval
        self.done = 0
        self.ok = 0
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
            self.ok += not (failed or unknown)
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            self._last = now
        self._emit()

    def finish(self, extra: str = "") -> None:
        if self._last_logged != self.done or extra:
            self._emit(extra)

    def line(self, extra: str = "") -> str:
        percent = 100 * self.done // self.total if self.total else 100
        return (
            f"processed {self.done}/{self.total} ({percent}%): {self.ok} {self.verb}, {self.failed} failed, "
            f"{self.unknown} unknown{extra}"
        )

    def _emit(self, extra: str = "") -> None:
        self._last_logged = self.done
        self.log.info("%s", self.line(extra))


class RateLimitTimeout(WapiFlowRateLimitError):
    """WapiFlow answered 429 for longer than the batch's ``rate_limit_timeout``: the request was not sent."""


class Throttle:
    """
    One back-off for the whole batch when WapiFlow answers 429.

    Every request takes a slot first. A 429 closes the gate for everybody until ``Retry-After``
    (or an exponential wait when there is none) and halves the requests allowed in flight; answers
    other than 429 add the slots back one at a time. When 429s go on for ``timeout`` seconds without
    one other answer in between, no request starts any more: :meth:`slot` raises
    :class:`RateLimitTimeout`, so the batch ends within about ``timeout`` seconds.
    """

    def __init__(self, concurrency: int, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_in_flight = concurrency
        self.limit = concurrency
        self.timeout = timeout
        self.rate_limited = 0
        self._clock = clock
        self._in_flight = 0
        self._resume_at = 0.0
        self._storm_since: float | None = None
        self._consecutive = 0
        self._good = 0
        self._cond = threading.Condition()

    @property
    def expired(self) -> bool:
        return self._storm_since is not None and self._clock() - self._storm_since >= self.timeout

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while True:
                if self.expired:
                    raise RateLimitTimeout(
                        f"WapiFlow answered 429 (rate limited) for {self.timeout:g} s, longer than "
                        "rate_limit_timeout: not sent, the next try sends it",
                        status_code=429,
                    )
                now = self._clock()
                if now >= self._resume_at and self._in_flight < self.limit:
                    break
                wait = self._resume_at - now if now < self._resume_at else 1.0
                if self._storm_since is not None:
                    wait = min(wait, self._storm_since + self.timeout - now)
                self._cond.wait(max(0.01, wait))
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def rate_limited_answer(self, retry_after: float | None) -> None:
        with self._cond:
            now = self._clock()
            self.rate_limited += 1
            self._consecutive += 1
            self._good = 0
            if self._storm_since is None:
                self._storm_since = now
            wait = retry_after if retry_after is not None else min(30.0, 2.0 ** (self._consecutive - 1))
            self._resume_at = max(self._resume_at, now + wait)
            self.limit = max(1, self.limit // 2)
            self._cond.notify_all()

    def other_answer(self) -> None:
        with self._cond:
            self._storm_since = None
            self._consecutive = 0
            if self.limit < self.max_in_flight:
                self._good += 1
                if self._good >= self.limit:
                    self._good = 0
                    self.limit += 1
                    self._cond.notify_all()

    def call(self, request: Callable[[], Result]) -> Result:
        """Run ``request`` in a slot; after a 429, wait with the whole batch and try again (a 429 sent nothing)."""
        while True:
            with self.slot():
                try:
                    result = request()
                except WapiFlowRateLimitError as error:
                    self.rate_limited_answer(error.retry_after)
                    continue
                except BaseException:
                    self.other_answer()
                    raise
            self.other_answer()
            return result


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
