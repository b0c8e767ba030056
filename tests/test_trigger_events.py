"""WapiFlowConversationEventTrigger against the simulator: change detection, watermark, back-off, serialization."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.triggers.base import BaseEventTrigger
from support import MemoryAssetStateStore, set_connection

from airflow_provider_wapiflow.assets import wapiflow_conversation_asset
from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook
from airflow_provider_wapiflow.testing import WapiFlowSimulator
from airflow_provider_wapiflow.triggers import events as events_module
from airflow_provider_wapiflow.triggers.conversations import MAX_BACKOFF, backoff_wait
from airflow_provider_wapiflow.triggers.events import (
    WATERMARK_KEY,
    WapiFlowConversationEventTrigger,
    Watermark,
)

ANA, BOB = ("34", "600111222"), ("34", "600333444")
SECRET = "wapiflow-test-secret"
CLASSPATH = "airflow_provider_wapiflow.triggers.events.WapiFlowConversationEventTrigger"


pytestmark = pytest.mark.sim_contacts(("Ana", "García", *ANA), ("Bob", "Smith", *BOB))


def _trigger(**kwargs: Any) -> WapiFlowConversationEventTrigger:
    kwargs.setdefault("name", "replies")
    kwargs.setdefault("poll_interval", 0.05)
    return WapiFlowConversationEventTrigger(**kwargs)


def _poll(trigger: WapiFlowConversationEventTrigger, watermark: Watermark) -> tuple[list[dict[str, Any]], Watermark]:
    async def once() -> tuple[list[dict[str, Any]], Watermark]:
        async with WapiFlowAsyncHook() as hook:
            return await trigger.poll(hook, watermark)

    return asyncio.run(once())


def _watch(
    trigger: WapiFlowConversationEventTrigger,
    steps: list[Callable[[], Any]],
    *,
    store: MemoryAssetStateStore | None = None,
    polls_per_step: int = 3,
) -> tuple[list[dict[str, Any]], list[float]]:
    """
    Run the trigger; before each group of polls run the next step (a reply, a status change…).

    Sleeps are recorded instead of waited: the test drives the polls, the waits show the back-off.
    """
    trigger.asset_state_store = store  # type: ignore[assignment]
    waits: list[float] = []
    pending = list(steps)
    polls = 0

    async def fake_sleep(seconds: float) -> None:
        nonlocal polls
        waits.append(seconds)
        polls += 1
        if polls % polls_per_step == 0:
            if not pending:
                raise _Done
            pending.pop(0)()
        await asyncio.sleep(0)

    async def collect() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        agen = trigger.run()
        try:
            async for event in agen:
                got.append(dict(event.payload))
        except _Done:
            pass
        finally:
            await agen.aclose()
        return got

    original = events_module._sleep
    events_module._sleep = fake_sleep
    try:
        return asyncio.run(collect()), waits
    finally:
        events_module._sleep = original


class _Done(Exception):
    pass


def _next_second() -> None:
    import time

    time.sleep(1.02 - time.time() % 1)


# --- serialization ----------------------------------------------------------------------------------


def test_serializes_to_json_only_without_the_secret() -> None:
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize, serialize

    trigger = _trigger(status="important", search="600", replay_existing=True)
    assert isinstance(trigger, BaseEventTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    as_json = json.dumps(kwargs)
    assert SECRET not in as_json
    assert json.loads(as_json) == kwargs
    assert kwargs == {
        "name": "replies",
        "activity": True,
        "status": 3,
        "search": "600",
        "poll_interval": 0.05,
        "replay_existing": True,
        "wapiflow_conn_id": "wapiflow_default",
    }
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert SECRET not in repr(rebuilt)


def test_asset_helper_declares_the_asset_and_its_watcher_in_one_line() -> None:
    asset = wapiflow_conversation_asset("vip_replies", status=1, search="600111", poll_interval=15)
    assert isinstance(asset, Asset)
    assert (asset.name, asset.uri) == ("vip_replies", "wapiflow://wapiflow_default/conversations/vip_replies")
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, WapiFlowConversationEventTrigger)
    assert watcher.trigger.serialize()[1]["status"] == 1
    assert watcher.trigger.serialize()[1]["poll_interval"] == 15.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"activity": False}, "watch something"),
        ({"status": "CLOSED"}, "'status' must be a ConversationStatus"),
        ({"search": "  "}, "'search' is empty"),
        ({"poll_interval": 0}, "'poll_interval' must be a positive"),
        ({"name": ""}, "'name' must be a non-empty string"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WapiFlowInputError, match=message):
        _trigger(**kwargs)


# --- change detection (one poll at a time) -----------------------------------------------------------


def test_new_reply_fires_once_with_a_masked_payload(sim: WapiFlowSimulator) -> None:
    trigger = _trigger()
    events, baseline = _poll(trigger, trigger.baseline())
    assert events == []  # nothing exists yet
    reply = sim.simulate_reply(*ANA, "Hello")
    events, after = _poll(trigger, baseline)
    assert events == [
        {
            "conversation_id": reply["id"],
            "contact_id": reply["contact_id"],
            "status": 0,
            "whatsapp_account_id": 1,
            "last_message_at": reply["last_message_at"],
            "phone": "+********222",
            "changed": ["activity"],
            "watcher": "replies",
        }
    ]
    assert ANA[1] not in json.dumps(events)
    assert "García" not in json.dumps(events)
    # Nothing new: no event, and the watermark does not move.
    assert _poll(trigger, after) == ([], after)


def test_api_side_sends_never_count_as_customer_activity(sim: WapiFlowSimulator) -> None:
    trigger = _trigger()
    hook = WapiFlowHook()
    hook.send_message(*ANA, "Your order shipped")  # opens and moves the API conversation
    _, watermark = _poll(trigger, trigger.baseline())
    assert watermark.since is not None  # the watermark follows it, so the next scan can stop early
    hook.send_message(*ANA, "Reminder")
    hook.send_message(*BOB, "Hello Bob")
    events, watermark = _poll(trigger, watermark)
    assert events == []
    sim.simulate_reply(*ANA, "Thanks")
    events, watermark = _poll(trigger, watermark)
    assert [(e["phone"], e["whatsapp_account_id"]) for e in events] == [("+********222", 1)]
    hook.send_message(*ANA, "You're welcome")  # moves Ana's API conversation, not her reply conversation
    assert _poll(trigger, watermark)[0] == []


def test_two_replies_in_the_same_second_both_fire(sim: WapiFlowSimulator) -> None:
    trigger = _trigger()
    _, watermark = _poll(trigger, trigger.baseline())
    with sim.state.lock:  # both in one second: the watermark keeps the ids at its second
        sim.simulate_reply(*ANA, "Yes")
        sim.simulate_reply(*BOB, "No")
    events, watermark = _poll(trigger, watermark)
    assert sorted(e["phone"] for e in events) == ["+********222", "+********444"]
    assert _poll(trigger, watermark)[0] == []


def test_status_change_to_the_watched_status(sim: WapiFlowSimulator) -> None:
    trigger = _trigger(activity=False, status="DONE")
    ana = sim.simulate_reply(*ANA, "Help")
    bob = sim.simulate_reply(*BOB, "Help")
    sim.set_conversation_status(bob["id"], 1)  # already DONE before the watcher: no event
    _, watermark = _poll(trigger, trigger.baseline())
    assert watermark.in_status == [bob["id"]]
    sim.set_conversation_status(ana["id"], 2)  # another status: nothing
    assert _poll(trigger, watermark)[0] == []
    sim.set_conversation_status(ana["id"], 1)
    events, watermark = _poll(trigger, watermark)
    assert [(e["conversation_id"], e["status"], e["changed"]) for e in events] == [(ana["id"], 1, ["status"])]
    sim.simulate_reply(*ANA, "Thanks")  # activity is not watched here
    assert _poll(trigger, watermark)[0] == []


def test_both_kinds_in_one_poll_make_one_event(sim: WapiFlowSimulator) -> None:
    trigger = _trigger(status=3)
    ana = sim.simulate_reply(*ANA, "Hi")
    _, watermark = _poll(trigger, trigger.baseline())
    _next_second()  # WapiFlow keeps whole seconds: a second message in the same second cannot be seen
    sim.simulate_reply(*ANA, "Urgent!")
    sim.set_conversation_status(ana["id"], 3)
    events, _ = _poll(trigger, watermark)
    assert [(e["conversation_id"], e["changed"]) for e in events] == [(ana["id"], ["activity", "status"])]


def test_search_limits_the_watch(sim: WapiFlowSimulator) -> None:
    trigger = _trigger(search=BOB[1])
    _, watermark = _poll(trigger, trigger.baseline())
    sim.simulate_reply(*ANA, "Hi")
    sim.simulate_reply(*BOB, "Hi")
    events, _ = _poll(trigger, watermark)
    assert [e["phone"] for e in events] == ["+********444"]
    assert sim.request_count(path_prefix="inbox/conversation-list") >= 2


# --- the run loop: baseline, watermark store, back-off ------------------------------------------------


def test_activity_before_the_watcher_started_does_not_fire(sim: WapiFlowSimulator) -> None:
    sim.simulate_reply(*ANA, "Old message")
    events, _ = _watch(_trigger(), [lambda: sim.simulate_reply(*BOB, "New")])
    assert [e["phone"] for e in events] == ["+********444"]


def test_replay_existing_fires_for_what_exists(sim: WapiFlowSimulator) -> None:
    sim.simulate_reply(*ANA, "Old message")
    events, _ = _watch(_trigger(replay_existing=True), [])
    assert [e["phone"] for e in events] == ["+********222"]


def test_watermark_in_the_asset_store_survives_a_restart(sim: WapiFlowSimulator) -> None:
    store = MemoryAssetStateStore()
    sim.simulate_reply(*ANA, "Before the watcher")
    first, _ = _watch(_trigger(), [lambda: sim.simulate_reply(*BOB, "One")], store=store)
    assert [e["phone"] for e in first] == ["+********444"]
    assert store.values[WATERMARK_KEY]["v"] == 1
    # The triggerer is down while Ana writes; the restarted watcher (same store) fires her reply once
    # and nothing it had already fired.
    _next_second()
    sim.simulate_reply(*ANA, "While the triggerer was down")
    second, _ = _watch(_trigger(), [], store=store)
    assert [e["phone"] for e in second] == ["+********222"]
    third, _ = _watch(_trigger(), [], store=store)
    assert third == []


def test_without_a_store_a_restart_takes_a_new_baseline(sim: WapiFlowSimulator) -> None:
    _watch(_trigger(), [])
    sim.simulate_reply(*ANA, "While the triggerer was down")
    events, _ = _watch(_trigger(), [])
    assert events == []  # documented: without the asset state store, downtime activity is missed


def test_a_changed_filter_takes_a_new_baseline(sim: WapiFlowSimulator) -> None:
    store = MemoryAssetStateStore()
    _watch(_trigger(), [], store=store)
    ana = sim.simulate_reply(*ANA, "Hi")
    sim.set_conversation_status(ana["id"], 1)
    events, _ = _watch(_trigger(status=1), [], store=store)
    assert events == []
    assert store.values[WATERMARK_KEY]["filter"]["status"] == 1


def test_server_errors_back_off_and_recover(sim: WapiFlowSimulator) -> None:
    trigger = _trigger(poll_interval=2.0)
    # Each failed poll is the hook's 1 + 3 tries: 8 errors fail two polls in a row, then WapiFlow recovers.
    steps = [lambda: sim.inject("error", status=500, times=8, path="inbox/conversation-list")]
    steps += [lambda: None, lambda: sim.simulate_reply(*ANA, "Still there?")]
    events, waits = _watch(trigger, steps, polls_per_step=1)
    assert [e["phone"] for e in events] == ["+********222"]
    assert waits[:4] == [2.0, 4.0, 8.0, 2.0]  # doubled after each failed poll, back after a success


def test_fatal_auth_error_fires_nothing_and_retries_slowly(
    sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    set_connection(monkeypatch, sim, password="not-the-secret")
    sim.simulate_reply(*ANA, "Hi")
    events, waits = _watch(_trigger(), [lambda: None], polls_per_step=2)
    assert events == []
    assert waits
    assert all(w == MAX_BACKOFF for w in waits)
    assert sim.request_count(path_prefix="inbox/conversation-list") == len(waits)  # one request per poll, no hot loop
    assert "not-the-secret" not in caplog.text


def test_backoff_rule_is_shared_with_the_sensor_trigger() -> None:
    assert [backoff_wait(5, n) for n in range(4)] == [5, 10, 20, 40]
    assert backoff_wait(5, 50) == MAX_BACKOFF
    assert backoff_wait(1200, 3) == 1200  # never shorter than the poll interval
