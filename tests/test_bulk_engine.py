"""The async bulk engine: one event loop, adaptive concurrency under 429 and 503, the same guarantees."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from support import task_context
from support.customers import seed_customers, sent_per_mobile

from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook
from airflow_provider_wapiflow.operators._bulk import BulkRun, Throttle, one_per_key
from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator
from airflow_provider_wapiflow.operators.messages import SendTemplateOperator
from airflow_provider_wapiflow.testing import WapiFlowSimulator

# --- the throttle, without HTTP ---------------------------------------------------------------------


def test_a_503_halves_the_limit_and_normal_answers_add_one_slot_per_window() -> None:
    throttle = Throttle(8, timeout=10)
    throttle.observe(200)
    assert throttle.limit == 8
    throttle.observe(503)
    throttle.observe(503)
    assert (throttle.limit, throttle.lowest, throttle.overloaded) == (2, 2, 2)
    assert throttle.describe() == "concurrency 2/8 (lowered by 429/503)"
    for _ in range(2):  # one window of 2 normal answers: one slot back
        throttle.other_answer()
    assert throttle.limit == 3
    for _ in range(3 + 4 + 5 + 6 + 7 + 50):
        throttle.other_answer()
    assert throttle.limit == 8, "never above the operator's concurrency"
    assert throttle.describe() == "concurrency 8/8"


def test_the_limit_bounds_requests_in_flight_and_peak_reports_it() -> None:
    async def scenario() -> tuple[int, int]:
        throttle = Throttle(6, timeout=10)
        throttle.observe(503)  # 6 -> 3
        in_flight = high = 0

        async def request() -> None:
            nonlocal in_flight, high
            in_flight += 1
            high = max(high, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

        await asyncio.gather(*(throttle.call(request) for _ in range(30)))
        return high, throttle.peak

    high, peak = asyncio.run(scenario())
    assert high == peak
    assert 3 <= peak <= 6  # starts at 3, grows back by one per window of normal answers


def test_one_per_key_keeps_the_first_or_the_last_explicitly() -> None:
    rows = [("a", 1), ("b", 2), ("a", 3), ("a", 4)]
    kept, dropped = one_per_key(rows, key=lambda r: r[0], keep="first")
    assert kept == [("a", 1), ("b", 2)]
    assert dropped == [(("a", 3), ("a", 1)), (("a", 4), ("a", 1))]
    kept, dropped = one_per_key(rows, key=lambda r: r[0], keep="last")
    assert kept == [("b", 2), ("a", 4)]
    assert dropped == [(("a", 1), ("a", 3)), (("a", 3), ("a", 4))]


def test_a_run_stops_starting_items_after_a_batch_fatal_error() -> None:
    from airflow_provider_wapiflow.exceptions import WapiFlowAuthError

    started: list[int] = []

    async def work(item: int) -> int:
        started.append(item)
        await asyncio.sleep(0.001)
        if item == 2:
            raise WapiFlowAuthError("bad credentials")
        return item

    settled: dict[int, str] = {}

    def settle(item: int, result: int | None, error: BaseException | None) -> Any:
        settled[item] = "failed" if error else "ok"
        return settled[item]

    import logging

    run: BulkRun[int, int] = BulkRun(
        log=logging.getLogger("test"), verb="done", concurrency=2, rate_limit_timeout=5, budget=0, budget_text="0"
    )
    never = asyncio.run(run.run(list(range(20)), work, settle))
    assert isinstance(run.stopped_by, WapiFlowAuthError)
    assert set(settled) == set(started)
    assert never == list(range(len(started), 20))
    assert len(started) < 6


# --- against the simulator ----------------------------------------------------------------------------


def test_every_request_of_a_bulk_send_runs_in_one_thread(
    wapiflow_connection: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = wapiflow_connection
    recipients = seed_customers(sim, 24, first=600700001)
    threads: set[int] = set()
    original = WapiFlowAsyncHook.call

    async def call(self: WapiFlowAsyncHook, request: Any) -> dict[str, Any]:
        threads.add(threading.get_ident())
        return await original(self, request)

    monkeypatch.setattr(WapiFlowAsyncHook, "call", call)
    before = threading.active_count()
    summary = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients).execute(task_context())
    assert summary["sent"] == 24
    assert len(threads) == 1, "one event loop, not a thread per request"
    assert threading.active_count() <= before + 1
    assert 1 <= summary["concurrency_reached"] <= 8


def test_a_rate_limited_send_backs_off_and_still_messages_everyone_once(
    wapiflow_connection: WapiFlowSimulator,
) -> None:
    sim = wapiflow_connection
    recipients = seed_customers(sim, 60, first=600710001)
    sim.rate_limit(20)
    started = time.monotonic()
    summary = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients, concurrency=8).execute(
        task_context()
    )
    elapsed = time.monotonic() - started
    assert summary["sent"] == 60
    assert summary["rate_limited"] > 0
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 1 for r in recipients})
    assert elapsed >= 2.0, "61 requests at 20 per second take at least 3 windows"


def test_503s_lower_the_concurrency_shown_in_the_progress_line(
    wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim = wapiflow_connection
    recipients = seed_customers(sim, 16, first=600720001)
    sim.inject("error", status=503, times=6, path="inbox/send-template-message")
    summary = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients, concurrency=8).execute(
        task_context()
    )
    assert summary["sent"] == 16
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 1 for r in recipients})
    progress = [line for line in debug_logs().splitlines() if "processed 16/16" in line]
    assert progress
    assert "(lowered by 429/503)" in progress[-1], progress


def test_the_upsert_runs_on_the_same_engine_under_a_rate_limit(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    rows = [
        {"firstname": f"Ana{i}", "lastname": "Ruiz", "phone": f"+34{600730001 + i}", "city": "Madrid"}
        for i in range(40)
    ]
    sim.rate_limit(15)
    summary = UpsertContactsOperator(task_id="u", contacts=rows, concurrency=8).execute(task_context())
    assert (summary["created"], summary["failed_count"]) == (40, 0)
    created = Counter(f"{c['mobile_code']}{c['mobile']}" for c in sim.contacts())
    assert all(created[f"34{600730001 + i}"] == 1 for i in range(40))
