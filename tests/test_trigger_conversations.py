"""ConversationTrigger and the sensor's deferral: serialize → rebuild → run against the simulator."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow.triggers.base import TriggerEvent
from support import set_connection, task_context

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook
from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.sensors.conversations import ConversationSensor
from airflow_provider_wapiflow.testing import WapiFlowSimulator
from airflow_provider_wapiflow.triggers import conversations as trigger_module
from airflow_provider_wapiflow.triggers.conversations import ConversationTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

CODE, MOBILE = "34", "600111222"
PHONE = f"+{CODE}{MOBILE}"
SECRET = "wapiflow-test-secret"
CLASSPATH = "airflow_provider_wapiflow.triggers.conversations.ConversationTrigger"


pytestmark = pytest.mark.sim_contacts(("Ana", "García", CODE, MOBILE))


@pytest.fixture
def later() -> Iterator[Any]:
    """Run an action from another thread after a delay (a customer, an agent); cancelled at the end."""
    timers: list[threading.Timer] = []

    def schedule(delay: float, action: Any, *args: Any) -> None:
        timer = threading.Timer(delay, action, args=args)
        timers.append(timer)
        timer.start()

    yield schedule
    for timer in timers:
        timer.cancel()


def _first_event(trigger: ConversationTrigger, limit: float = 15) -> TriggerEvent:
    async def first() -> TriggerEvent:
        return await asyncio.wait_for(anext(trigger.run()), limit)

    return asyncio.run(first())


def _defer(sensor: ConversationSensor) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(task_context())
    return info.value


def test_round_trip_until_the_customer_replies(sim: WapiFlowSimulator, later: Any, context: Context) -> None:
    """Defer, serialize, rebuild like the triggerer does, and run until a simulated reply arrives."""
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.serde import deserialize, serialize

    sent_at = datetime.now(timezone.utc)
    sim.add_conversation(CODE, MOBILE, status=0, last_message_at=sent_at)  # our message
    sensor = ConversationSensor(
        task_id="wait",
        phone=PHONE,
        statuses=[ConversationStatus.NONE, ConversationStatus.PENDING],
        updated_after=sent_at.isoformat(),
        deferrable=True,
        poke_interval=0.2,
        timeout=60,
    )
    deferred = _defer(sensor)  # the first check ran on the worker: no reply yet
    assert sim.request_count(path_prefix="inbox/conversation-list") == 1
    assert deferred.method_name == "execute_complete"
    assert isinstance(deferred.timeout, timedelta)
    assert 55 < deferred.timeout.total_seconds() <= 60

    classpath, kwargs = deferred.trigger.serialize()
    assert classpath == CLASSPATH
    as_json = json.dumps(kwargs)  # JSON only: no pickles, no objects
    assert json.loads(as_json) == kwargs
    assert SECRET not in as_json
    assert kwargs == {
        "conversation_id": None,
        "mobile_code": CODE,
        "mobile": MOBILE,
        "statuses": [0, 2],
        "updated_after": sent_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "replied_after": None,
        "poll_interval": 0.2,
        "end_time": kwargs["end_time"],
        "wapiflow_conn_id": "wapiflow_default",
    }
    assert time.time() + 55 < kwargs["end_time"] <= time.time() + 60

    # Through Airflow's serde, as the triggerer (and dag.test()) store and load them.
    rebuilt = import_string(classpath)(**deserialize(serialize(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)

    # The customer answers in a later second than our message.
    later(1.1, sim.simulate_reply, CODE, MOBILE, "Yes, approved")
    started = time.monotonic()
    event = _first_event(rebuilt)
    assert time.monotonic() - started < 5
    assert event.payload["status"] == "success"
    conversation = event.payload["conversation"]
    assert conversation["phone"] == "+********222"  # masked: the event is stored in the metadata database
    assert MOBILE not in json.dumps(conversation)
    assert conversation["last_message_at"] > sent_at.strftime("%Y-%m-%dT%H:%M:%S")
    assert sim.request_count(path_prefix="inbox/conversation-list") > 2  # it polled

    assert sensor.execute_complete(context, event=event.payload) == conversation


def test_round_trip_by_conversation_id_and_status(sim: WapiFlowSimulator, later: Any) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, status=2)
    sensor = ConversationSensor(
        task_id="wait",
        conversation_id=str(conversation["id"]),  # as a rendered template gives it
        statuses="DONE",
        deferrable=True,
        poke_interval=0.2,
        timeout=60,
    )
    _, kwargs = _defer(sensor).trigger.serialize()
    assert kwargs["conversation_id"] == conversation["id"]
    assert kwargs["statuses"] == [1]
    later(0.5, sim.set_conversation_status, conversation["id"], 1)
    event = _first_event(ConversationTrigger(**kwargs))
    assert event.payload["status"] == "success"
    assert event.payload["conversation"]["id"] == conversation["id"]
    assert event.payload["conversation"]["status"] == 1


def test_deferrable_sensor_met_at_first_check_does_not_defer(sim: WapiFlowSimulator, context: Context) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, status=1)
    sensor = ConversationSensor(task_id="wait", phone=PHONE, statuses=[1], deferrable=True, poke_interval=0.2)
    assert sensor.execute(context)["id"] == conversation["id"]


def test_timeout_event(sim: WapiFlowSimulator, context: Context) -> None:
    sim.add_conversation(CODE, MOBILE, status=2)
    trigger = ConversationTrigger(
        mobile_code=CODE, mobile=MOBILE, statuses=[1], poll_interval=0.2, end_time=time.time() + 0.6
    )
    started = time.monotonic()
    event = _first_event(trigger)
    assert 0.5 < time.monotonic() - started < 3
    assert event.payload["status"] == "timeout"
    assert "status is PENDING" in event.payload["message"]
    assert MOBILE not in event.payload["message"]

    sensor = ConversationSensor(task_id="wait", phone=PHONE, statuses=[1], deferrable=True)
    with pytest.raises(AirflowSensorTimeout, match="Timed out waiting"):
        sensor.execute_complete(context, event=event.payload)
    # How the task runner resumes a sensor: soft_fail turns the timeout into a skip.
    soft = ConversationSensor(task_id="wait", phone=PHONE, statuses=[1], deferrable=True, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        soft.resume_execution("execute_complete", {"event": event.payload}, context)


def test_deferral_passes_the_sensor_timeout_to_the_trigger(sim: WapiFlowSimulator, context: Context) -> None:
    sim.add_conversation(CODE, MOBILE, status=2)
    sensor = ConversationSensor(
        task_id="wait", phone=PHONE, statuses=[1], deferrable=True, poke_interval=0.2, timeout=1
    )
    deferred = _defer(sensor)
    event = _first_event(deferred.trigger)
    assert event.payload["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete(context, event=event.payload)


def test_zero_timeout_times_out_after_the_first_check(sim: WapiFlowSimulator, context: Context) -> None:
    sim.add_conversation(CODE, MOBILE, status=2)
    sensor = ConversationSensor(task_id="wait", phone=PHONE, statuses=[1], deferrable=True, timeout=0)
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute(context)


def test_wrong_secret_gives_a_fatal_error_event_at_once(
    sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    set_connection(monkeypatch, sim, password="not-the-secret")
    trigger = ConversationTrigger(mobile_code=CODE, mobile=MOBILE, poll_interval=0.2, end_time=time.time() + 600)
    started = time.monotonic()
    event = _first_event(trigger)
    assert time.monotonic() - started < 3
    assert event.payload["status"] == "error"
    assert event.payload["fatal"] is True
    assert "Client Secret" in event.payload["message"]
    assert "not-the-secret" not in json.dumps(event.payload)

    sensor = ConversationSensor(task_id="wait", phone=PHONE, deferrable=True)
    with pytest.raises(AirflowFailException, match="Invalid credentials"):
        sensor.execute_complete(context, event=event.payload)


def test_wrong_secret_fails_before_deferring(
    sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch, context: Context
) -> None:
    set_connection(monkeypatch, sim, password="not-the-secret")
    sensor = ConversationSensor(task_id="wait", phone=PHONE, deferrable=True, timeout=600)
    with pytest.raises(AirflowFailException, match="Invalid credentials"):
        sensor.execute(context)
    soft = ConversationSensor(task_id="wait", phone=PHONE, deferrable=True, timeout=600, soft_fail=True)
    with pytest.raises(AirflowSkipException):
        soft.execute(context)


def test_unknown_conversation_id_is_a_fatal_error_event(sim: WapiFlowSimulator) -> None:
    event = _first_event(ConversationTrigger(conversation_id=999, poll_interval=0.2, end_time=time.time() + 600))
    assert event.payload["status"] == "error"
    assert event.payload["fatal"] is True
    assert "Conversation not found" in event.payload["message"]


def test_transient_errors_keep_the_trigger_polling(sim: WapiFlowSimulator) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, status=1)
    sim.inject("error", status=500, times=6)  # outlasts the hook's 3 retries once
    event = _first_event(ConversationTrigger(mobile_code=CODE, mobile=MOBILE, statuses=[1], poll_interval=0.2))
    assert event.payload["status"] == "success"
    assert event.payload["conversation"]["id"] == conversation["id"]
    assert sim.request_count() == 7


def test_unexpected_trigger_failure_is_a_retryable_error(context: Context) -> None:
    sensor = ConversationSensor(task_id="wait", phone=PHONE, deferrable=True)
    event = {"status": "error", "message": "ConversationTrigger failed: RuntimeError: boom", "fatal": False}
    with pytest.raises(AirflowException, match="boom") as info:
        sensor.execute_complete(context, event=event)
    assert not isinstance(info.value, AirflowFailException)
    with pytest.raises(AirflowException, match="without a trigger event"):
        sensor.execute_complete(context, event=None)


def test_cancellation_closes_the_http_session(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.add_conversation(CODE, MOBILE, status=2)
    hooks: list[WapiFlowAsyncHook] = []

    class RecordingHook(WapiFlowAsyncHook):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            hooks.append(self)

    monkeypatch.setattr(trigger_module, "WapiFlowAsyncHook", RecordingHook)
    trigger = ConversationTrigger(mobile_code=CODE, mobile=MOBILE, statuses=[1], poll_interval=0.2)

    async def cancel_while_polling() -> bool:
        task = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(0.7)
        [hook] = hooks
        assert hook._session is not None  # it is polling
        assert not hook._session.closed
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return hook._session is None

    assert asyncio.run(cancel_while_polling())
    assert sim.request_count() >= 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mobile_code": CODE}, "'mobile' is missing"),
        ({"conversation_id": 7, "mobile_code": CODE, "mobile": MOBILE}, "give only one of"),
        ({"conversation_id": 7, "statuses": [9]}, "'statuses'"),
        ({"conversation_id": 7, "updated_after": "soon"}, "'updated_after'"),
    ],
)
def test_trigger_validates_its_kwargs(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WapiFlowInputError, match=message):
        ConversationTrigger(**kwargs)
