"""
The bulk engine of the send and upsert operators: one event loop, adaptive concurrency, one outcome.

A bulk try runs every request on the async hook in one event loop: no thread per request, one
connection pool. :class:`Throttle` decides how many requests are in flight (fewer after a 429 or a
503, back up gradually once answers are normal again); :class:`BulkRun` starts the items, stops the
batch on an error every later request would share, accounts for the items it never started, logs
progress and raises what the try ended with, after pushing the summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from typing import Any, Generic, Literal, TypeVar

from airflow.sdk.exceptions import AirflowFailException, AirflowTaskTerminated, AirflowTaskTimeout

from airflow_provider_wapiflow.exceptions import (
    BATCH_FATAL_ERRORS,
    WapiFlowBatchError,
    WapiFlowError,
    WapiFlowRateLimitError,
)
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook

Item = TypeVar("Item")
Result = TypeVar("Result")
Verdict = Literal["ok", "failed", "unknown"]
"""How one item ended, as progress counts it: done, certainly not done, or maybe done."""

#: Entries kept in the lists of an XCom summary; the counts stay exact beyond it.
SUMMARY_LIST_CAP = 1000
#: Problems listed in an error message or a log line; the counts stay exact.
LISTED_PROBLEMS = 20


def one_per_key(
    items: Sequence[Item], key: Callable[[Item], Hashable], *, keep: Literal["first", "last"]
) -> tuple[list[Item], list[tuple[Item, Item]]]:
    """
    The items with one per key, in input order, and each dropped item paired with the one that replaced it.

    ``keep`` says which of the repeats wins: ``"first"`` (a recipient is messaged once, as first
    listed) or ``"last"`` (a contact row later in the table replaces an earlier one).
    """
    chosen: dict[Hashable, Item] = {}
    dropped: list[tuple[Item, Item]] = []
    for item in items:
        k = key(item)
        if k not in chosen:
            chosen[k] = item
        elif keep == "first":
            dropped.append((item, chosen[k]))
        else:
            dropped.append((chosen.pop(k), item))  # re-inserted: the kept rows stay in input order
            chosen[k] = item
    return list(chosen.values()), dropped


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


def restated(error: WapiFlowError, message: str) -> WapiFlowError:
    """``error`` with a new message: the same class and every attribute (remark, HTTP status, IP...)."""
    copy = type(error).__new__(type(error))
    Exception.__init__(copy, message)
    copy.__dict__.update(error.__dict__)
    copy.message = message
    return copy


def run_sync(main: Coroutine[Any, Any, Result]) -> Result:
    """
    Run ``main`` to completion from synchronous code (``execute``).

    In a thread of its own when this thread already runs an event loop (a notebook, an async test).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = asyncio.run(main)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="wapiflow-bulk")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]  # type: ignore[no-any-return]


class RateLimitTimeout(WapiFlowRateLimitError):
    """WapiFlow answered 429 for longer than the batch's ``rate_limit_timeout``: the request was not sent."""


class Throttle:
    """
    How many requests a batch has in flight, and one back-off for all of them.

    Every request takes a slot first. A 429 closes the gate for everybody until ``Retry-After`` (or
    an exponential wait when there is none); a 429 or a 503 halves the requests allowed in flight
    (multiplicative decrease), and normal answers add one slot back per ``limit`` answers (additive
    increase), up to ``concurrency``. When 429s go on for ``timeout`` seconds without one other
    answer in between, no request starts any more: :meth:`call` raises :class:`RateLimitTimeout`, so
    the batch ends within about ``timeout`` seconds. Used from one event loop.
    """

    def __init__(self, concurrency: int, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_in_flight = concurrency
        self.limit = concurrency
        self.timeout = timeout
        self.rate_limited = 0
        """429 answers seen."""
        self.overloaded = 0
        """503 answers seen."""
        self.peak = 0
        """The most requests that were in flight at once: the concurrency actually reached."""
        self.lowest = concurrency
        """The lowest limit the 429s and 503s brought the batch down to."""
        self._clock = clock
        self._in_flight = 0
        self._resume_at = 0.0
        self._storm_since: float | None = None
        self._consecutive = 0
        self._good = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def expired(self) -> bool:
        return self._storm_since is not None and self._clock() - self._storm_since >= self.timeout

    def describe(self) -> str:
        """The limit for the progress lines: ``concurrency 8/8``, or ``concurrency 2/8 (lowered by 429/503)``."""
        lowered = " (lowered by 429/503)" if self.limit < self.max_in_flight else ""
        return f"concurrency {self.limit}/{self.max_in_flight}{lowered}"

    def _release(self) -> None:
        self._in_flight -= 1
        if self._waiters:
            self._wake()

    async def _acquire(self) -> None:
        while True:
            if self.expired:
                raise RateLimitTimeout(
                    f"WapiFlow answered 429 (rate limited) for {self.timeout:g} s, longer than "
                    "rate_limit_timeout: not sent, the next try sends it",
                    http_status=429,
                )
            if self._clock() >= self._resume_at and self._in_flight < self.limit:
                self._in_flight += 1
                self.peak = max(self.peak, self._in_flight)
                return
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            self._arm()
            try:
                await waiter
            finally:
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)

    def _arm(self) -> None:
        """Wake the waiters when the gate opens or the storm outlasts the timeout."""
        if self._timer is not None or not self._waiters:
            return
        now = self._clock()
        moments = [self._resume_at] if self._resume_at > now else []
        if self._storm_since is not None:
            moments.append(self._storm_since + self.timeout)
        if moments:
            delay = max(0.001, min(moments) - now)
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()

    def _wake(self) -> None:
        if not self._waiters:
            return
        if self.expired:
            free = len(self._waiters)
        elif self._clock() < self._resume_at:
            self._arm()
            return
        else:
            free = self.limit - self._in_flight
        for _ in range(min(free, len(self._waiters))):
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    def _decrease(self) -> None:
        self.limit = max(1, self.limit // 2)
        self.lowest = min(self.lowest, self.limit)
        self._good = 0

    def rate_limited_answer(self, retry_after: float | None) -> None:
        now = self._clock()
        self.rate_limited += 1
        self._consecutive += 1
        if self._storm_since is None:
            self._storm_since = now
        wait = retry_after if retry_after is not None else min(30.0, 2.0 ** (self._consecutive - 1))
        self._resume_at = max(self._resume_at, now + wait)
        self._decrease()

    def overloaded_answer(self) -> None:
        """A 503: WapiFlow (or a proxy) is overloaded; fewer requests in flight, no pause."""
        self.overloaded += 1
        self._decrease()

    def other_answer(self) -> None:
        self._storm_since = None
        self._consecutive = 0
        if self.limit < self.max_in_flight:
            self._good += 1
            if self._good >= self.limit:
                self._good = 0
                self.limit += 1
                with contextlib.suppress(RuntimeError):  # outside an event loop (a unit test)
                    self._wake()

    def observe(self, status: int) -> None:
        """Every HTTP answer the hook reads (its own retries included): a 503 lowers the limit."""
        if status == 503:
            self.overloaded_answer()

    async def call(self, request: Callable[[], Awaitable[Result]]) -> Result:
        """Run ``request`` in a slot; after a 429, wait with the whole batch and try again (a 429 sent nothing)."""
        while True:
            await self._acquire()
            try:
                result = await request()
            except WapiFlowRateLimitError as error:
                self.rate_limited_answer(error.retry_after)
                continue
            except BaseException:
                self.other_answer()
                raise
            finally:
                self._release()
            self.other_answer()
            return result


class Progress:
    """
    Logs ``processed done/total (pct%): N <verb>, N failed, N unknown`` at most every ``interval`` seconds.

    Counts what happened, never "sent 19/19" when 4 of them failed.
    """

    def __init__(self, log: Any, verb: str, total: int, throttle: Throttle, interval: float = 5.0) -> None:
        self.log, self.verb, self.total, self.interval = log, verb, total, interval
        self.throttle = throttle
        self.done = 0
        self.ok = 0
        self.failed = 0
        self.unknown = 0
        self._last = time.monotonic()
        self._last_logged = -1

    def advance(self, verdict: Verdict) -> None:
        self.done += 1
        if verdict == "ok":
            self.ok += 1
        elif verdict == "failed":
            self.failed += 1
        else:
            self.unknown += 1
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._emit()

    def finish(self, extra: str = "") -> None:
        if self._last_logged != self.done or extra:
            self._emit(extra)

    def line(self, extra: str = "") -> str:
        percent = 100 * self.done // self.total if self.total else 100
        return (
            f"processed {self.done}/{self.total} ({percent}%): {self.ok} {self.verb}, {self.failed} failed, "
            f"{self.unknown} unknown{extra}; {self.throttle.describe()}"
        )

    def _emit(self, extra: str = "") -> None:
        self._last_logged = self.done
        self.log.info("%s", self.line(extra))


class BulkRun(Generic[Item, Result]):
    """
    One try of a bulk operation: every item's work in one event loop, at most ``concurrency`` at once.

    The operator gives what one item's work is and how its result or error is recorded; the run owns
    the rest: the bounded pool, the adaptive limit, progress lines, the stop on a batch-fatal error
    or a rate-limit timeout, the items never started, the failure budget and the final raise.

    :param budget: failed and unknown items tolerated (from :func:`failure_budget`).
    :param budget_text: how the budget was given, for the error (:func:`describe_budget`).
    """

    def __init__(
        self,
        *,
        log: Any,
        verb: str,
        concurrency: int,
        rate_limit_timeout: float,
        budget: int,
        budget_text: str,
    ) -> None:
        self.log = log
        self.verb = verb
        self.concurrency = concurrency
        self.throttle = Throttle(concurrency, rate_limit_timeout)
        self.budget = budget
        self.budget_text = budget_text
        self.stopped_by: WapiFlowError | None = None
        """The error that stopped the batch: batch-fatal (credentials, plan) or a rate-limit timeout."""
        self.not_reached = 0
        """Items that were not sent because WapiFlow rate-limited the batch longer than the timeout."""
        self.progress = Progress(log, verb, 0, self.throttle)

    @property
    def rate_limited(self) -> bool:
        return isinstance(self.stopped_by, RateLimitTimeout)

    def hook(self, wapiflow_conn_id: str, pool_size: int) -> WapiFlowAsyncHook:
        """The async hook of this try, answering to the batch's throttle."""
        # 429s are not waited out per request by the hook: the throttle backs off for everybody, and it
        # sees every answer the hook reads, so a 503 lowers the requests in flight too.
        return WapiFlowAsyncHook(
            wapiflow_conn_id, pool_size=pool_size, max_retry_after=0.0, on_answer=self.throttle.observe
        )

    async def run(
        self,
        items: Sequence[Item],
        work: Callable[[Item], Awaitable[Result]],
        settle: Callable[[Item, Result | None, BaseException | None], Verdict],
        *,
        before: Callable[[Item], None] | None = None,
    ) -> list[Item]:
        """
        Do ``work`` for the items in order; hand each result or error to ``settle``; return the items never started.

        ``before`` runs just before an item starts (the ledger's and once-per guard's writes); once the
        batch stops, nothing more starts, and the items in flight finish and are settled.
        """
        self.progress = Progress(self.log, self.verb, len(items), self.throttle)
        started = 0

        async def worker() -> None:
            # Workers share one position in ``items``: one event loop, so no lock is needed.
            nonlocal started
            while self.stopped_by is None and started < len(items):
                item = items[started]
                started += 1
                if before is not None:
                    before(item)
                error: BaseException | None = None
                result: Result | None = None
                try:
                    result = await work(item)
                except (AirflowTaskTimeout, AirflowTaskTerminated):
                    raise  # the task's timeout or a kill, raised where the loop happened to be: stop the try
                except Exception as failure:  # settled below; cancellation and exits propagate
                    error = failure
                self._settle(item, result, error, settle)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(items)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:  # interrupted (the task was killed): nothing is left running
                task.cancel()
        self.progress.finish()
        never_started = list(items[started:])
        if self.rate_limited:
            self.not_reached += len(never_started)
        return never_started

    def _settle(
        self,
        item: Item,
        result: Result | None,
        error: BaseException | None,
        settle: Callable[[Item, Result | None, BaseException | None], Verdict],
    ) -> None:
        self.progress.advance(settle(item, result, error))
        if isinstance(error, RateLimitTimeout):
            self.not_reached += 1
        if isinstance(error, (*BATCH_FATAL_ERRORS, RateLimitTimeout)) and self.stopped_by is None:
            assert isinstance(error, WapiFlowError)
            self.stopped_by = error
            self.log.error("Stopping the batch: %s", error.message)

    def never_started_reason(self, what: str) -> str:
        """Why an item the run did not start has no outcome: ``what`` is ``"sent"`` or ``"written"``."""
        stopped = self.stopped_by
        if stopped is None or self.rate_limited:
            return (
                f"not {what}: WapiFlow rate-limited the batch longer than rate_limit_timeout; the next try "
                f"{'sends' if what == 'sent' else 'writes'} it"
            )
        return f"not {what}: the batch stopped after {stopped.message}"

    def raise_if_failed(
        self,
        context: Any,
        summary: dict[str, Any],
        *,
        problems: int,
        stopped: Callable[[WapiFlowError], str],
        over_budget: Callable[[], str],
        rate_limited: Callable[[], str],
    ) -> None:
        """
        Fail the try if it must, after pushing ``summary`` under XCom key ``summary``.

        In this order: a batch-fatal error (raised again with its class and attributes, chained); more
        failed or unknown items than the budget (:class:`WapiFlowBatchError`); items not reached under a
        rate limit (:class:`RateLimitTimeout`: a retry sends them). ``problems`` counts the failed and
        unknown items, the ones not reached included; the texts come from the operator.
        """
        fatal = None if self.rate_limited else self.stopped_by
        if fatal is None and problems <= self.budget and not self.not_reached:
            return
        ti = context.get("ti") if hasattr(context, "get") else None
        if ti is not None:
            # A failing try returns no XCom; keep its summary where downstream "all_done" tasks read it.
            ti.xcom_push(key="summary", value=summary)
        if fatal is not None:
            raise restated(fatal, stopped(fatal)) from fatal
        if problems - self.not_reached > self.budget:
            raise WapiFlowBatchError(over_budget())
        raise RateLimitTimeout(rate_limited(), http_status=429)
