"""ConversationSensor against the WapiFlow simulator: the poke table, failing at once, transient errors, DAG runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pendulum
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from dag_runs import DagRunResult
from support import set_connection, task_context

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.sensors.conversations import ConversationSensor
from airflow_provider_wapiflow.testing import WapiFlowSimulator

if TYPE_CHECKING:
    from airflow.sdk import Context

CODE, MOBILE = "34", "600111222"
PHONE = f"+{CODE}{MOBILE}"
LAST = "2026-11-25T10:00:05Z"
SECRET = "wapiflow-test-secret"
MASKED = "+********222"


pytestmark = pytest.mark.sim_contacts(("Ana", "García", CODE, MOBILE))


def _sensor(**kwargs: Any) -> ConversationSensor:
    kwargs.setdefault("poke_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    return ConversationSensor(task_id="wait", **kwargs)


# --- the poke table ---------------------------------------------------------------------------------


@dataclass
class PokeCase:
    id: str
    sensor: dict[str, Any]
    done: bool
    conversation: dict[str, Any] | None = field(default_factory=lambda: {"status": 1, "last_message_at": LAST})
    """Our contact's conversation (None: it has none)."""
    by: str = "id"
    """How the sensor finds it: "id", "phone" or "parts" (mobile_code + mobile)."""


AFTER_EARLIER = "2026-11-25T10:00:04.999Z"
AFTER_LATER = "2026-11-25T10:00:06Z"

POKE_CASES = [
    PokeCase("by id, status matches", {"statuses": [ConversationStatus.DONE]}, True),
    PokeCase("by id, status differs", {"statuses": [ConversationStatus.DONE]}, False, {"status": 2}),
    PokeCase("by id, one of several statuses (names, ints)", {"statuses": ["done", 3]}, True, {"status": 3}),
    PokeCase("by id, a single status", {"statuses": ConversationStatus.PENDING}, True, {"status": 2}),
    PokeCase("by phone", {"statuses": [1]}, True, by="phone"),
    PokeCase("by mobile_code + mobile", {"statuses": [1]}, True, by="parts"),
    PokeCase("by phone, no conversation yet", {}, False, None, by="phone"),
    PokeCase("by phone, no condition: the conversation exists", {}, True, {"status": 0}, by="phone"),
    PokeCase("message in a later second", {"updated_after": AFTER_EARLIER}, True),
    PokeCase("message before updated_after", {"updated_after": AFTER_LATER}, False),
    PokeCase("message in the same second", {"updated_after": "2026-11-25T10:00:05.900Z"}, False),
    PokeCase("message at exactly updated_after", {"updated_after": "2026-11-25T10:00:05Z"}, False),
    PokeCase("updated_after with an offset", {"updated_after": "2026-11-25T11:00:04+01:00"}, True),
    PokeCase("updated_after naive means UTC", {"updated_after": "2026-11-25 10:00:04"}, True),
    PokeCase(
        "updated_after as a datetime", {"updated_after": datetime(2026, 11, 25, 10, 0, 4, tzinfo=timezone.utc)}, True
    ),
    PokeCase(
        "updated_after as a pendulum DateTime",
        {"updated_after": pendulum.datetime(2026, 11, 25, 11, 0, 6, tz="Europe/Madrid")},
        False,
    ),
    PokeCase("no message yet", {"updated_after": AFTER_EARLIER}, False, {"status": 1, "last_message_at": None}),
    PokeCase("both conditions met", {"statuses": [1], "updated_after": AFTER_EARLIER}, True, by="phone"),
    PokeCase("status met, no new message", {"statuses": [1], "updated_after": AFTER_LATER}, False, by="phone"),
    PokeCase(
        "new message, status not met",
        {"statuses": [1], "updated_after": AFTER_EARLIER},
        False,
        {"status": 2, "last_message_at": LAST},
        by="phone",
    ),
]


@pytest.mark.parametrize("case", POKE_CASES, ids=[c.id for c in POKE_CASES])
def test_poke(sim: WapiFlowSimulator, case: PokeCase, context: Context) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, **case.conversation) if case.conversation else None
    target: dict[str, Any] = {
        "id": {"conversation_id": conversation["id"] if conversation else 1},
        "phone": {"phone": PHONE},
        "parts": {"mobile_code": CODE, "mobile": MOBILE},
    }[case.by]
    result = _sensor(**target, **case.sensor).poke(context)
    assert result.is_done is case.done
    if case.done:
        assert conversation is not None
        assert result.xcom_value["id"] == conversation["id"]
        # Masked XCom (issue 15 point 15): ids, status, times, the masked phone; no names, no number.
        assert result.xcom_value["phone"] == MASKED
        assert "contact" not in result.xcom_value
        assert MOBILE not in json.dumps(result.xcom_value)
    else:
        assert result.xcom_value is None


def test_poke_by_phone_ignores_a_number_that_only_contains_ours(sim: WapiFlowSimulator, context: Context) -> None:
    """WapiFlow's search is a LIKE on names and numbers: only the exact code + number counts."""
    sim.add_contact("Bob", "Other", CODE, MOBILE + "9")
    sim.add_contact("Eve", "Abroad", "351", MOBILE)
    sim.add_conversation(CODE, MOBILE + "9", status=1)
    sim.add_conversation("351", MOBILE, status=1)
    sensor = _sensor(phone=PHONE, statuses=[ConversationStatus.DONE])
    assert not sensor.poke(context).is_done
    ours = sim.add_conversation(CODE, MOBILE, status=1)
    result = sensor.poke(context)
    assert result.is_done
    assert result.xcom_value["id"] == ours["id"]


def test_poke_renders_templates(sim: WapiFlowSimulator, context: Context) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, status=2, last_message_at=LAST)
    sensor = _sensor(
        phone="{{ params.phone }}",
        statuses="{{ params.statuses }}",
        updated_after="{{ params.after }}",
    )
    sensor.render_template_fields({"params": {"phone": PHONE, "statuses": "DONE,PENDING", "after": AFTER_EARLIER}})
    result = sensor.poke(context)
    assert result.is_done
    assert result.xcom_value["id"] == conversation["id"]


def test_phone_never_logged_in_full(
    sim: WapiFlowSimulator, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], context: Context
) -> None:
    sim.add_conversation(CODE, MOBILE, status=2)
    caplog.set_level("INFO")
    sensor = _sensor(phone=PHONE, statuses=[1])
    assert not sensor.poke(context).is_done
    sim.set_plan("none")
    with pytest.raises(AirflowFailException) as info:
        sensor.poke(context)
    logged = caplog.text + capsys.readouterr().out + str(info.value)
    assert "+********222" in logged
    assert MOBILE not in logged


# --- parse-time validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give 'conversation_id', 'phone' (E.164) or 'mobile_code' + 'mobile'"),
        ({"conversation_id": 7, "phone": PHONE}, "give only one of"),
        ({"phone": PHONE, "mobile_code": CODE, "mobile": MOBILE}, "give only one of"),
        ({"mobile_code": CODE}, "'mobile' is missing"),
        ({"mobile": MOBILE}, "'mobile_code' is missing"),
        ({"phone": MOBILE}, "E.164"),
        ({"phone": "+3460011"}, "'phone'"),
        ({"conversation_id": 0}, "'conversation_id' must be a positive integer"),
        ({"conversation_id": "seven"}, "'conversation_id' must be a positive integer"),
        ({"conversation_id": 7, "statuses": ["CLOSED"]}, "'statuses' must be a ConversationStatus"),
        ({"conversation_id": 7, "statuses": []}, "'statuses' is empty"),
        ({"conversation_id": 7, "updated_after": "yesterday"}, "'updated_after' must be a datetime"),
        ({"conversation_id": 7, "updated_after": 1764064805}, "'updated_after' must be a datetime"),
    ],
)
def test_bad_input_fails_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WapiFlowInputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        _sensor(**kwargs)


def test_templated_values_are_checked_after_rendering(sim: WapiFlowSimulator, context: Context) -> None:
    sensor = _sensor(
        phone="{{ params.phone }}", statuses="{{ params.statuses }}", updated_after="{{ params.after }}"
    )  # accepted at parse time
    sensor.render_template_fields({"params": {"phone": "+34600", "statuses": "[1]", "after": AFTER_EARLIER}})
    started = time.monotonic()
    with pytest.raises(AirflowFailException, match="'phone'"):
        sensor.execute(context)
    assert time.monotonic() - started < 2
    assert sim.request_count() == 0


# --- errors: fatal at once, transient as "not yet" --------------------------------------------------


def _execute_fails_fast(sensor: ConversationSensor, expected: type[BaseException], match: str) -> float:
    started = time.monotonic()
    with pytest.raises(expected, match=match) as info:
        sensor.execute(task_context())
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"took {elapsed:.1f} s with a {sensor.timeout} s timeout"
    assert SECRET not in str(info.value)
    return elapsed


def test_wrong_secret_fails_at_once(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.add_conversation(CODE, MOBILE, status=0)
    set_connection(monkeypatch, sim, password="not-the-secret")
    sensor = _sensor(phone=PHONE, statuses=[1], timeout=600, retries=3)
    _execute_fails_fast(sensor, AirflowFailException, "Client Secret")
    assert sim.request_count() == 1  # a 401 is not retried


def test_fatal_error_is_not_swallowed_by_silent_fail(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, sim, password="not-the-secret")
    sensor = _sensor(phone=PHONE, statuses=[1], timeout=600, silent_fail=True)
    _execute_fails_fast(sensor, AirflowFailException, "Invalid credentials")


def test_fatal_error_with_soft_fail_skips_at_once(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, sim, password="not-the-secret")
    sensor = _sensor(phone=PHONE, statuses=[1], timeout=600, soft_fail=True)
    _execute_fails_fast(sensor, AirflowSkipException, "soft_fail")


@pytest.mark.wapiflow_simulator(allowed_ips=("203.0.113.7",))
def test_ip_not_whitelisted_fails_at_once(sim: WapiFlowSimulator) -> None:
    elapsed = _execute_fails_fast(_sensor(conversation_id=1, timeout=600), AirflowFailException, "whitelist")
    assert elapsed < 3


def test_expired_plan_fails_at_once(sim: WapiFlowSimulator) -> None:
    sim.set_plan("expired")
    _execute_fails_fast(_sensor(phone=PHONE, timeout=600), AirflowFailException, "plan has expired")


def test_unknown_conversation_id_fails_at_once(sim: WapiFlowSimulator) -> None:
    _execute_fails_fast(_sensor(conversation_id=999, timeout=600), AirflowFailException, "Conversation not found")


def test_missing_connection_fails_at_once(sim: WapiFlowSimulator) -> None:
    sensor = _sensor(conversation_id=1, timeout=600, wapiflow_conn_id="wapiflow_missing")
    _execute_fails_fast(sensor, AirflowFailException, "wapiflow_missing")


def test_transient_errors_count_as_not_yet(sim: WapiFlowSimulator, context: Context) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, status=1)
    # The connection retries reads 3 times: 4 failures outlast the hook's retries for one poke.
    sim.inject("error", status=500, times=4)
    sensor = _sensor(phone=PHONE, statuses=[1])
    assert not sensor.poke(context).is_done
    result = sensor.poke(context)
    assert result.is_done
    assert result.xcom_value["id"] == conversation["id"]


def test_poke_mode_waits_through_outages_and_returns_the_conversation(sim: WapiFlowSimulator, context: Context) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, status=2)
    sim.inject("error", status=503, times=10)
    timer = threading.Timer(0.8, sim.set_conversation_status, args=(conversation["id"], 1))
    timer.start()
    try:
        value = _sensor(conversation_id=conversation["id"], statuses=[1], timeout=20).execute(context)
    finally:
        timer.cancel()
    assert value["id"] == conversation["id"]
    assert value["status"] == 1


# --- real DAG runs ----------------------------------------------------------------------------------


@pytest.fixture
def reply_after(sim: WapiFlowSimulator) -> Iterator[Callable[[float, Callable[[], Any]], None]]:
    timers: list[threading.Timer] = []

    def schedule(delay: float, action: Callable[[], Any]) -> None:
        timer = threading.Timer(delay, action)
        timers.append(timer)
        timer.start()

    yield schedule
    for timer in timers:
        timer.cancel()


def test_dag_deferrable_waits_for_the_reply(sim: WapiFlowSimulator, run_dag: Callable[..., DagRunResult]) -> None:
    """send → ConversationSensor(deferrable) → SetConversationStatusOperator, under dag.test() (trigger in-process)."""
    # The customer answers 1.2 s after our message: always in a later second than the send.
    sim.auto_reply(CODE, MOBILE, text="Approved", delay=1.2)
    result = run_dag("conversation_dags.py", dag_id="conversation_approval_deferrable")
    assert result.succeeded, result.task_states
    waited = result.xcoms["wait"]
    # The conversation split (bug-conversation-split): the send opened the API conversation, the reply the
    # account's; the sensor follows the reply.
    api_side, conversation = sim.conversations()
    assert (api_side["whatsapp_account_id"], conversation["whatsapp_account_id"]) == (0, 1)
    assert waited["id"] == conversation["id"]
    assert waited["phone"] == MASKED
    assert "García" not in json.dumps(waited)
    assert MOBILE not in json.dumps(waited)
    sent_at = datetime.fromisoformat(result.xcoms["send"]["finished_at"].replace("Z", "+00:00"))
    replied_at = datetime.fromisoformat(waited["last_message_at"].replace("Z", "+00:00"))
    assert replied_at.replace(microsecond=0) > sent_at.replace(microsecond=0)
    assert [m["message"] for m in sim.messages(direction="received")] == ["Approved"]
    assert result.xcoms["close"] == {"conversation_id": conversation["id"], "status": 1}
    assert [c["status"] for c in sim.conversations()] == [0, ConversationStatus.DONE]
    # One check on the worker before deferring, then the trigger's polls.
    assert sim.request_count(path_prefix="inbox/conversation-list") >= 2


def test_dag_reschedule_mode(
    sim: WapiFlowSimulator,
    run_dag: Callable[..., DagRunResult],
    reply_after: Callable[[float, Callable[[], Any]], None],
) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, status=2)
    reply_after(2.0, lambda: sim.set_conversation_status(conversation["id"], 1))
    result = run_dag("conversation_dags.py", dag_id="conversation_wait_done_reschedule")
    assert result.succeeded, result.task_states
    assert result.xcoms["wait"]["id"] == conversation["id"]
    assert result.xcoms["wait"]["status"] == 1
    assert result.tries["wait"] == 1  # rescheduled, not retried
    assert sim.request_count(path_prefix="inbox/conversation-list") >= 2


def test_dag_deferrable_wrong_secret_fails_without_retries(
    sim: WapiFlowSimulator, run_dag: Callable[..., DagRunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, sim, password="not-the-secret")
    started = time.monotonic()
    result = run_dag("conversation_dags.py", dag_id="conversation_wrong_secret")
    elapsed = time.monotonic() - started
    assert result.state == "failed"
    assert result.task_states["wait"] == "failed"
    assert result.tries["wait"] == 1  # retries=3 in the DAG: an auth error is not retried
    # Most of this is dag.test()'s in-process API server starting; the sensor's timeout is 600 s.
    assert elapsed < 60, f"took {elapsed:.1f} s"


# --- the conversation split and "the customer wrote after our message" (issues 12.7, 15.3) -----------


def _summary(delivered: str, *, phone: str = PHONE, finished: str | None = None) -> dict[str, Any]:
    """A send summary as the send operators return it (the keys the sensor reads)."""
    from airflow_provider_wapiflow.models import phone_key

    return {
        "sent": 1,
        "delivered_at": {phone_key(phone): delivered},
        "first_delivered_at": delivered,
        "started_at": delivered,
        "finished_at": finished or delivered,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _trigger_done(query_json: dict[str, Any]) -> dict[str, Any]:
    """Run ConversationTrigger for one check (end_time already passing): its event."""
    import asyncio

    from airflow_provider_wapiflow.triggers.conversations import ConversationTrigger

    trigger = ConversationTrigger(**query_json, poll_interval=0.1, end_time=time.time() + 0.3)

    async def first() -> dict[str, Any]:
        event = await asyncio.wait_for(anext(trigger.run()), 10)
        return dict(event.payload)

    return asyncio.run(first())


def test_api_conversation_id_fails_fast_saying_to_wait_by_phone(sim: WapiFlowSimulator, context: Context) -> None:
    from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook

    WapiFlowHook().send_message(CODE, MOBILE, "Approve?")
    (api_side,) = sim.conversations()
    assert api_side["whatsapp_account_id"] == 0
    sensor = _sensor(conversation_id=api_side["id"], replied_after="2020-01-01T00:00:00Z")
    with pytest.raises(AirflowFailException, match=r"created by WapiFlow's external API.*Wait by phone"):
        sensor.poke(context)
    # The trigger makes the same decision, at once and fatally.
    event = _trigger_done(sensor._query().to_json())
    assert (event["status"], event["fatal"]) == ("error", True)
    assert "Wait by phone" in event["message"]


def test_by_phone_only_the_api_conversation_is_not_yet(sim: WapiFlowSimulator, context: Context) -> None:
    from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook

    WapiFlowHook().send_message(CODE, MOBILE, "Approve?")
    # Even "exists" and a status the API conversation has do not count: replies never arrive there.
    assert _sensor(phone=PHONE).poke(context).is_done is False
    assert _sensor(phone=PHONE, statuses=[0]).poke(context).is_done is False
    sim.simulate_reply(CODE, MOBILE, "Yes")
    result = _sensor(phone=PHONE, statuses=[0]).poke(context)
    assert result.is_done is True
    assert result.xcom_value["whatsapp_account_id"] == 1


def test_replied_after_is_not_satisfied_by_our_own_later_send(sim: WapiFlowSimulator, context: Context) -> None:
    from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook

    now = datetime.now(timezone.utc)
    first_delivery = _iso(now.replace(microsecond=0) - pendulum.duration(seconds=30))
    hook = WapiFlowHook()
    hook.send_message(CODE, MOBILE, "Your order shipped")  # opens the API conversation
    # An earlier reply of the customer opened the account's conversation, last active an hour ago.
    sim.add_conversation(CODE, MOBILE, last_message_at=_iso(now - pendulum.duration(hours=1)))
    hook.send_message(CODE, MOBILE, "Reminder: reply YES")  # our own later send, 30 s after the cut-off
    summary = _summary(first_delivery)
    sensor = _sensor(phone=PHONE, replied_after=summary)
    assert sensor.poke(context).is_done is False
    assert _trigger_done(sensor._query().to_json())["status"] == "timeout"
    # By phone, updated_after also looks only at the reply conversation now.
    assert _sensor(phone=PHONE, updated_after=first_delivery).poke(context).is_done is False

    sim.simulate_reply(CODE, MOBILE, "YES")
    result = sensor.poke(context)
    assert result.is_done is True
    assert result.xcom_value["whatsapp_account_id"] == 1
    event = _trigger_done(sensor._query().to_json())
    assert event["status"] == "success"
    assert event["conversation"] == result.xcom_value  # one decision, one masked conversation


def test_replied_after_a_reply_between_two_tries_is_not_missed(sim: WapiFlowSimulator, context: Context) -> None:
    """The cut-off is the FIRST try's delivery: a retry's later finished_at cannot hide the reply."""
    base = datetime.now(timezone.utc).replace(microsecond=0) - pendulum.duration(minutes=5)
    first_try = base
    reply_at = base + pendulum.duration(seconds=3)
    retry_finished = base + pendulum.duration(seconds=6)
    sim.add_conversation(CODE, MOBILE, whatsapp_account_id=0, last_message_at=_iso(first_try))
    sim.add_conversation(CODE, MOBILE, last_message_at=_iso(reply_at))
    summary = _summary(_iso(first_try), finished=_iso(retry_finished))
    # The old recipe misses it ...
    assert _sensor(phone=PHONE, updated_after=summary["finished_at"]).poke(context).is_done is False
    # ... the new condition does not, on the worker and in the triggerer alike.
    sensor = _sensor(phone=PHONE, replied_after=summary)
    assert sensor.poke(context).is_done is True
    assert _trigger_done(sensor._query().to_json())["status"] == "success"
    # A JSON or repr-rendered summary (Jinja without native rendering) works the same.
    assert _sensor(phone=PHONE, replied_after=json.dumps(summary)).poke(context).is_done is True
    assert _sensor(phone=PHONE, replied_after=repr(summary)).poke(context).is_done is True


@pytest.mark.parametrize(
    ("reply_offset", "shared", "done"),
    [
        (0, False, True),  # split: our sends never land in the reply conversation, the same second counts
        (-1, False, False),  # a reply before our message
        (0, True, False),  # shared: a message in the cut-off's second may be ours
        (1, True, True),
        (1, False, True),
    ],
)
def test_replied_after_split_and_shared_cases(
    sim: WapiFlowSimulator, reply_offset: int, shared: bool, done: bool, context: Context
) -> None:
    cutoff = datetime.now(timezone.utc).replace(microsecond=0) - pendulum.duration(minutes=5)
    last = _iso(cutoff + pendulum.duration(seconds=reply_offset))
    if not shared:
        sim.add_conversation(CODE, MOBILE, whatsapp_account_id=0, last_message_at=_iso(cutoff))
    sim.add_conversation(CODE, MOBILE, last_message_at=last)
    sensor = _sensor(phone=PHONE, replied_after=_iso(cutoff))
    assert sensor.poke(context).is_done is done
    event = _trigger_done(sensor._query().to_json())
    assert event["status"] == ("success" if done else "timeout")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phone": PHONE, "replied_after": {"sent": 0}}, "has no 'delivered_at'"),
        ({"phone": "+34600999999", "replied_after": _summary("2026-11-25T10:00:00Z")}, r"no delivery to \+\*+999"),
        ({"conversation_id": 5, "replied_after": _summary("2026-11-25T10:00:00Z")}, "give the customer's 'phone'"),
        ({"phone": PHONE, "replied_after": "yesterday-ish"}, "'replied_after' must be a datetime"),
    ],
)
def test_replied_after_bad_input_is_named(
    sim: WapiFlowSimulator, kwargs: dict[str, Any], message: str, context: Context
) -> None:
    with pytest.raises((AirflowFailException, WapiFlowInputError), match=message):
        _sensor(**kwargs).poke(context)
    assert sim.request_count() == 0


def test_replied_after_capped_summary_falls_back_to_the_earliest_delivery(sim: WapiFlowSimulator) -> None:
    from airflow_provider_wapiflow.conversations import DELIVERED_AT_CAP, replied_after_from
    from airflow_provider_wapiflow.models import Phone

    summary = {
        "delivered_at": {f"k{i}": "2026-11-25T10:00:09Z" for i in range(DELIVERED_AT_CAP)},
        "first_delivered_at": "2026-11-25T10:00:01Z",
    }
    cutoff = replied_after_from(summary, Phone.parse(phone=PHONE))
    assert cutoff == datetime(2026, 11, 25, 10, 0, 1, tzinfo=timezone.utc)
