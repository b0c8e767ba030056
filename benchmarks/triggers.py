"""
Many ``ConversationTrigger`` s in one event loop, as a triggerer runs them: memory each, CPU per poll.

A fresh process (no simulator, no earlier benchmark in it) starts N triggers, each waiting for its
own conversation to become DONE, which never happens. Memory per trigger = (RSS once every trigger
has polled at least once - RSS before they started) / N; one warm-up trigger has already imported
aiohttp and opened a session, so that one-off cost is not spread over the others. CPU per poll =
the process's CPU time over a few poll intervals / the requests made in them. Requests are counted
by wrapping ``WapiFlowAsyncHook._send_once`` in the measuring process (a counter, nothing else).

:func:`run_watchers` does the same for asset watchers: one process (a triggerer's event loop) runs
100 ``WapiFlowConversationEventTrigger`` s (``make bench``; 10 at the tiny size), each watching one
customer's conversations (``search=`` their number) for new replies that never come; memory per
watcher and CPU per poll (one poll = one conversation-list read and the change detection).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from typing import Any

from benchmarks.common import Outcome, Settings, SimProcess, cpu_seconds, mobile, rss_mb, run_child


def run(settings: Settings) -> Outcome:
    sizes = settings.sizes
    count = sizes.triggers
    with SimProcess(latency=settings.latency) as sim:
        sim.call("bulk_seed_contacts", count + 1)
        ids = [sim.call("add_conversation", "34", mobile(i))["id"] for i in range(count + 1)]
        sim_cpu = sim.cpu_seconds()
        measured = run_child(
            "benchmarks.triggers",
            {
                "connection": sim.connection_json,
                "warm_up_id": ids[0],
                "ids": ids[1:],
                "poll_interval": sizes.trigger_poll_interval,
                "windows": sizes.trigger_windows,
            },
            timeout=600,
        )
        sim_cpu = sim.cpu_seconds() - sim_cpu
    kb_each = measured["rss_growth_mb"] * 1024 / count
    cpu_ms = measured["window_cpu_seconds"] * 1000 / measured["window_polls"]
    expected_polls = count * measured["window_seconds"] / sizes.trigger_poll_interval
    outcome = Outcome()
    outcome.results.update(
        trigger_count=count,
        trigger_poll_interval_s=sizes.trigger_poll_interval,
        trigger_kb_each=round(kb_each, 1),
        trigger_cpu_ms_per_poll=round(cpu_ms, 3),
        trigger_rss_before_mb=round(measured["rss_before_mb"], 1),
        trigger_rss_running_mb=round(measured["rss_running_mb"], 1),
        trigger_window_seconds=round(measured["window_seconds"], 2),
        trigger_window_polls=measured["window_polls"],
        trigger_window_polls_expected=round(expected_polls),
        trigger_window_requests=measured["window_requests"],
        trigger_window_retries=measured["window_retries"],
        trigger_window_cpu_seconds=round(measured["window_cpu_seconds"], 3),
        trigger_loop_busy=round(measured["window_cpu_seconds"] / measured["window_seconds"], 3),
        trigger_start_seconds=round(measured["start_seconds"], 2),
        trigger_events=measured["events"],
        trigger_simulator_cpu_seconds=round(sim_cpu, 2),
    )
    outcome.row("memory", f"{kb_each:.0f} KB per trigger ({count} triggers)")
    outcome.row("CPU", f"{cpu_ms:.2f} ms per poll ({measured['window_polls']} polls)")
    outcome.row("event loop busy", f"{measured['window_cpu_seconds'] / measured['window_seconds']:.0%} of one core")
    return outcome


#: Asset watchers in one triggerer for the event benchmark (issue 18: 100).
WATCHERS = 100


def run_watchers(settings: Settings) -> Outcome:
    sizes = settings.sizes
    count = min(WATCHERS, sizes.triggers)
    with SimProcess(latency=settings.latency) as sim:
        sim.call("bulk_seed_contacts", count + 1)
        for i in range(count + 1):  # each customer has written once, before the watchers started
            sim.call("simulate_reply", "34", mobile(i), "Hello")
        sim_cpu = sim.cpu_seconds()
        measured = run_child(
            "benchmarks.triggers",
            {
                "kind": "watchers",
                "connection": sim.connection_json,
                "mobiles": [mobile(i) for i in range(count + 1)],
                "poll_interval": sizes.trigger_poll_interval,
                "windows": sizes.trigger_windows,
            },
            timeout=600,
        )
        sim_cpu = sim.cpu_seconds() - sim_cpu
    kb_each = measured["rss_growth_mb"] * 1024 / count
    cpu_ms = measured["window_cpu_seconds"] * 1000 / measured["window_polls"]
    outcome = Outcome()
    outcome.results.update(
        watcher_count=count,
        watcher_poll_interval_s=sizes.trigger_poll_interval,
        watcher_kb_each=round(kb_each, 1),
        watcher_cpu_ms_per_poll=round(cpu_ms, 3),
        watcher_rss_before_mb=round(measured["rss_before_mb"], 1),
        watcher_rss_running_mb=round(measured["rss_running_mb"], 1),
        watcher_window_seconds=round(measured["window_seconds"], 2),
        watcher_window_polls=measured["window_polls"],
        watcher_window_requests=measured["window_requests"],
        watcher_window_cpu_seconds=round(measured["window_cpu_seconds"], 3),
        watcher_loop_busy=round(measured["window_cpu_seconds"] / measured["window_seconds"], 3),
        watcher_events=measured["events"],
        watcher_simulator_cpu_seconds=round(sim_cpu, 2),
    )
    outcome.row("watcher memory", f"{kb_each:.0f} KB per asset watcher ({count} watchers)")
    outcome.row("watcher CPU", f"{cpu_ms:.2f} ms per poll ({measured['window_polls']} polls)")
    return outcome


async def _measure_watchers(args: dict[str, Any]) -> dict[str, Any]:
    from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook
    from airflow_provider_wapiflow.triggers.events import WapiFlowConversationEventTrigger

    polls = requests = events = 0
    poll, send_once = WapiFlowConversationEventTrigger.poll, WapiFlowAsyncHook._send_once

    async def counted_poll(self: WapiFlowConversationEventTrigger, *rest: Any) -> Any:
        nonlocal polls
        try:
            return await poll(self, *rest)
        finally:
            polls += 1

    async def counted_send(self: WapiFlowAsyncHook, request: Any) -> dict[str, Any]:
        nonlocal requests
        requests += 1
        return await send_once(self, request)

    WapiFlowConversationEventTrigger.poll = counted_poll  # type: ignore[method-assign]
    WapiFlowAsyncHook._send_once = counted_send  # type: ignore[method-assign]
    interval = float(args["poll_interval"])

    async def watch(mobile_number: str) -> None:
        nonlocal events
        trigger = WapiFlowConversationEventTrigger(
            name=f"w{mobile_number}", search=mobile_number, poll_interval=interval
        )
        async for _ in trigger.run():
            events += 1  # nobody writes during the benchmark: an event would skew the figures

    async def until(condition: Any, limit: float) -> None:
        deadline = time.monotonic() + limit
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"watchers did not poll in time ({polls} polls)")
            await asyncio.sleep(0.01)

    warm_up_mobile, *mobiles = args["mobiles"]
    warm_up = asyncio.create_task(watch(warm_up_mobile))
    await until(lambda: polls >= 1, 60)
    warm_up.cancel()
    await asyncio.gather(warm_up, return_exceptions=True)
    gc.collect()
    before = rss_mb()
    first = polls
    tasks: list[asyncio.Task[Any]] = []
    loop = asyncio.get_running_loop()
    for position, number in enumerate(mobiles):  # spread over one interval, as a triggerer starts them
        loop.call_later(
            position * interval / len(mobiles), lambda n=number: tasks.append(asyncio.create_task(watch(n)))
        )
    await until(lambda: polls - first >= len(mobiles), interval + 300)
    running = rss_mb()
    window_polls, window_requests = polls, requests
    cpu, began = cpu_seconds(), time.perf_counter()
    await asyncio.sleep(interval * int(args["windows"]))
    cpu, window = cpu_seconds() - cpu, time.perf_counter() - began
    window_polls, window_requests = polls - window_polls, requests - window_requests
    running = max(running, rss_mb())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "rss_before_mb": before,
        "rss_running_mb": running,
        "rss_growth_mb": running - before,
        "window_seconds": window,
        "window_polls": window_polls,
        "window_requests": window_requests,
        "window_cpu_seconds": cpu,
        "events": events,
    }


async def _measure(args: dict[str, Any]) -> dict[str, Any]:
    from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook
    from airflow_provider_wapiflow.models import ConversationStatus
    from airflow_provider_wapiflow.triggers import conversations as trigger_module
    from airflow_provider_wapiflow.triggers.conversations import ConversationTrigger

    polls = requests = retries = 0
    check, send_once, log_retry = trigger_module.check_async, WapiFlowAsyncHook._send_once, WapiFlowAsyncHook._log_retry

    async def counted_check(*args: Any) -> Any:
        nonlocal polls
        try:
            return await check(*args)
        finally:
            polls += 1

    async def counted_send(self: WapiFlowAsyncHook, request: Any) -> dict[str, Any]:
        nonlocal requests
        requests += 1
        return await send_once(self, request)

    def counted_retry(self: WapiFlowAsyncHook, *args: Any) -> None:
        nonlocal retries
        retries += 1
        log_retry(self, *args)

    trigger_module.check_async = counted_check  # type: ignore[assignment]
    WapiFlowAsyncHook._send_once = counted_send  # type: ignore[method-assign]
    WapiFlowAsyncHook._log_retry = counted_retry  # type: ignore[method-assign]
    interval = float(args["poll_interval"])

    def trigger(conversation_id: int) -> ConversationTrigger:
        return ConversationTrigger(
            conversation_id=conversation_id, statuses=[ConversationStatus.DONE], poll_interval=interval
        )

    async def until(condition: Any, limit: float) -> None:
        deadline = time.monotonic() + limit
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"triggers did not poll in time ({polls} polls)")
            await asyncio.sleep(0.01)

    warm_up = asyncio.create_task(anext(trigger(args["warm_up_id"]).run()))
    await until(lambda: polls >= 1, 60)
    warm_up.cancel()
    await asyncio.gather(warm_up, return_exceptions=True)
    gc.collect()
    before = rss_mb()

    ids: list[int] = args["ids"]
    started = time.perf_counter()
    first = polls
    tasks: list[asyncio.Task[Any]] = []

    def start(conversation_id: int) -> None:
        tasks.append(asyncio.create_task(anext(trigger(conversation_id).run())))

    # Spread over one poll interval, as deferrals arrive in a triggerer, so that the load is steady.
    loop = asyncio.get_running_loop()
    for position, conversation_id in enumerate(ids):
        loop.call_later(position * interval / len(ids), start, conversation_id)
    await until(lambda: polls - first >= len(ids), interval + 300)
    start_seconds = time.perf_counter() - started
    running = rss_mb()

    window_polls, window_requests, window_retries = polls, requests, retries
    cpu, began = cpu_seconds(), time.perf_counter()
    await asyncio.sleep(interval * int(args["windows"]))
    cpu, window = cpu_seconds() - cpu, time.perf_counter() - began
    window_polls, window_requests = polls - window_polls, requests - window_requests
    window_retries = retries - window_retries
    running = max(running, rss_mb())

    events = sum(task.done() for task in tasks)  # a trigger that fired would skew the figures
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "rss_before_mb": before,
        "rss_running_mb": running,
        "rss_growth_mb": running - before,
        "start_seconds": start_seconds,
        "window_seconds": window,
        "window_polls": window_polls,
        "window_requests": window_requests,
        "window_retries": window_retries,
        "window_cpu_seconds": cpu,
        "events": events,
    }


if __name__ == "__main__":
    arguments = json.loads(sys.argv[1])
    os.environ["AIRFLOW_CONN_WAPIFLOW_DEFAULT"] = arguments["connection"]
    measure = _measure_watchers if arguments.get("kind") == "watchers" else _measure
    print(json.dumps(asyncio.run(measure(arguments))))
