"""WapiFlowNotifier: real callbacks in DAG runs, the async path, and failures that must not mask the task's error."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseNotifier
from dag_runs import DagRunResult

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.get_provider_info import get_provider_info
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook
from airflow_provider_wapiflow.notifications.wapiflow import WapiFlowNotifier, default_message
from airflow_provider_wapiflow.testing import WapiFlowSimulator

RunDag = Callable[..., DagRunResult]
ON_CALL = ("34", "699000111")


def test_the_default_alert_says_what_failed_where(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim = wapiflow_connection
    sim.add_contact("On-call", "Engineer", *ON_CALL)
    result = run_dag("notifier_dags.py", "notifier_default_alert")
    assert result.state == "failed"
    (alert,) = sim.messages(direction="sent")
    assert str(alert["mobile"]) == ON_CALL[1]
    text = alert["message"]
    assert text.startswith("Airflow failed: DAG notifier_default_alert, task load_orders (try 1), run ")
    assert "3 order rows were rejected by the warehouse" in text
    assert "WapiFlow notification sent to 1 recipients" in debug_logs()


def test_a_templated_message_reaches_every_recipient(run_dag: RunDag, wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.add_contact("On-call", "Engineer", *ON_CALL)
    sim.add_contact("Second", "Engineer", "34", "699000112")
    result = run_dag("notifier_dags.py", "notifier_templated_text")
    assert result.succeeded
    texts = sorted((str(m["mobile"]), m["message"]) for m in sim.messages(direction="sent"))
    expected = "publish_report of notifier_templated_text done: published"
    assert texts == [("699000111", expected), ("699000112", expected)]


def test_a_failing_alert_is_logged_and_does_not_mask_the_task_error(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    result = run_dag("notifier_dags.py", "notifier_cannot_send")
    assert result.state == "failed"
    assert result.task_states == {"load_orders": "failed"}
    logs = debug_logs()
    assert "3 order rows were rejected by the warehouse" in logs  # the task's own error is reported
    assert (
        "WapiFlow notification NOT DELIVERED: 0 sent, 1 not delivered: +********999 is not a WapiFlow contact" in logs
    )
    assert "(set fallback= to get such alerts another way)" in logs
    assert "error" in next(line for line in logs.splitlines() if "NOT DELIVERED" in line)
    assert wapiflow_connection.messages() == []


async def test_async_notify_for_deadline_alerts(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.add_contact("On-call", "Engineer", *ON_CALL)
    template = sim.add_template("deadline_missed", "DAG {{1}} missed its deadline")
    notifier = WapiFlowNotifier(recipients="+34699000111", template="deadline_missed", body_variables=["nightly"])
    await notifier.async_notify({})  # type: ignore[arg-type]
    (alert,) = sim.messages(direction="sent", template_id=template["id"])
    assert alert["body_variables"] == ["nightly"]


def test_default_message_for_a_deadline_context() -> None:
    context: Any = {"dag_run": {"dag_id": "nightly", "run_id": "scheduled__2026"}, "deadline": object()}
    assert default_message(context) == "Airflow deadline missed: DAG nightly, run scheduled__2026"


def test_bad_arguments_and_registration() -> None:
    with pytest.raises(WapiFlowInputError, match="give either 'template' or 'message', not both"):
        WapiFlowNotifier(recipients="+34699000111", template="x", message="y")
    assert "airflow_provider_wapiflow.notifications.wapiflow.WapiFlowNotifier" in get_provider_info()["notifications"]
    assert set(WapiFlowNotifier.template_fields) >= {"recipients", "template", "body_variables", "message"}


# --- secrets never reach WhatsApp (issue 13.6) ------------------------------------------------------------

WAREHOUSE_PASSWORD = "Wh-7f3kq9-pg-Secret"


def test_a_password_in_the_exception_never_reaches_whatsapp(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = wapiflow_connection
    sim.add_contact("On-call", "Engineer", *ON_CALL)
    sim.add_template("task_failed_one_line", "Airflow task failed: {{1}}")
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAREHOUSE_DB",
        json.dumps({"conn_type": "postgres", "host": "db.internal", "login": "etl", "password": WAREHOUSE_PASSWORD}),
    )
    result = run_dag("notifier_dags.py", "notifier_secret_in_exception")
    assert result.task_states == {"default_text": "failed", "user_text": "failed", "template": "failed"}

    sent = sim.messages(direction="sent")
    assert len(sent) == 3  # every alert went out: the default text, the user's text and the template
    texts = [m["message"] or "" for m in sent] + [v for m in sent for v in m["body_variables"]]
    assert any("could not connect to postgresql://etl:***@db.internal/orders" in t for t in texts), texts
    assert any(t.startswith("user_text: could not connect") for t in texts), texts
    # nothing WapiFlow received holds the password: not the stored messages, not a single request
    assert WAREHOUSE_PASSWORD not in json.dumps(sent)
    assert WAREHOUSE_PASSWORD not in json.dumps(sim.requests(), default=str)


# --- native rendering, undelivered alerts and the fallback (issue 15.11) ----------------------------------


def test_an_alert_from_a_dag_that_renders_native_objects_is_delivered(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator
) -> None:
    sim = wapiflow_connection
    sim.add_contact("On-call", "Engineer", *ON_CALL)
    result = run_dag("notifier_dags.py", "notifier_native_rendering")
    assert result.state == "failed"
    (alert,) = sim.messages(direction="sent")
    assert str(alert["mobile"]) == ON_CALL[1]
    assert "3 order rows were rejected by the warehouse" in alert["message"]


def test_an_undelivered_alert_goes_to_the_fallback_with_the_same_text(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str], tmp_path: Path
) -> None:
    received = tmp_path / "fallback.txt"
    result = run_dag("notifier_dags.py", "notifier_fallback", run_conf={"fallback_file": str(received)})
    assert result.task_states == {"load_orders": "failed"}
    assert wapiflow_connection.messages() == []
    reason, text = received.read_text().split(" | ", 1)
    assert (
        reason
        == "0 sent, 1 not delivered: +********999 is not a WapiFlow contact (create it once, e.g. in WapiFlow's UI)"
    )
    assert text.startswith("Airflow failed: DAG notifier_fallback, task load_orders (try 1), run ")
    assert "3 order rows were rejected by the warehouse" in text
    logs = debug_logs()
    assert "WapiFlow notification NOT DELIVERED: 0 sent, 1 not delivered" in logs
    assert "The alert went to the fallback notifier FileNotifier instead" in logs


class _Recorder(BaseNotifier):
    template_fields = ("text",)

    def __init__(self) -> None:
        super().__init__()
        self.text = "{{ wapiflow_failure }}"
        self.received: list[str] = []

    def notify(self, context: Any) -> None:
        self.received.append(self.text)


def test_bad_input_in_the_notifier_is_refused_before_any_request_and_reaches_the_fallback(
    wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim = wapiflow_connection
    sim.add_template("deadline_missed", "DAG {{1}} missed its deadline")
    fallback = _Recorder()
    notifier = WapiFlowNotifier(
        recipients="+34699000111", template="deadline_missed", body_variables=[math.nan], fallback=fallback
    )
    notifier.notify({})  # type: ignore[arg-type]
    reason = "not sent: 'body_variables' {{1}} is NaN (a missing value, e.g. an empty cell of a pandas column)"
    assert fallback.received == [reason]
    assert f"WapiFlow notification NOT DELIVERED: {reason}" in debug_logs()
    assert sim.request_count() == 0


@pytest.mark.parametrize(
    ("recipients", "message"),
    [
        (600111222, "recipient 1 of the input: 'phone' ******222 is a number, not a string in E.164 form"),
        (["+34699000111", True], "recipient 2 of the input: must be an E.164 string or a dict"),
    ],
)
def test_recipients_the_notifier_cannot_read_are_named(
    wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str], recipients: Any, message: str
) -> None:
    WapiFlowNotifier(recipients=recipients, message="hi").notify({})  # type: ignore[arg-type]
    assert message in debug_logs()
    assert wapiflow_connection.request_count() == 0


async def test_async_notify_checks_variables_and_calls_the_fallback(wapiflow_connection: WapiFlowSimulator) -> None:
    fallback = _Recorder()
    notifier = WapiFlowNotifier(
        recipients="+34699000111", template="deadline_missed", header_variables=[b"x"], fallback=fallback
    )
    await notifier.async_notify({})  # type: ignore[arg-type]
    assert fallback.received == ["not sent: 'header_variables' {{1}} is bytes: decode it to text first"]
    assert wapiflow_connection.request_count() == 0


def test_default_region_and_number_variables_in_the_notifier(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.add_contact("On-call", "Engineer", *ON_CALL)
    template = sim.add_template("late", "{{1}} orders late, {{2}} EUR")
    WapiFlowNotifier(
        recipients="699 000 111", template="late", body_variables=[12.0, Decimal("9.50")], default_region="ES"
    ).notify({})  # type: ignore[arg-type]
    (alert,) = sim.messages(direction="sent", template_id=template["id"])
    assert alert["body_variables"] == ["12", "9.50"]


# --- the notifier closes its HTTP session -----------------------------------------------------------------


def test_notify_closes_the_hooks_session(
    wapiflow_connection: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    wapiflow_connection.add_contact("On-call", "Engineer", *ON_CALL)
    sessions: list[Any] = []
    call = WapiFlowHook.call

    def spy(hook: WapiFlowHook, request: Any) -> dict[str, Any]:
        sessions.append(hook.session)
        return call(hook, request)

    monkeypatch.setattr(WapiFlowHook, "call", spy)
    notifier = WapiFlowNotifier(recipients="+34699000111", message="disk full")
    notifier.notify({})  # type: ignore[arg-type]
    assert len(wapiflow_connection.messages(direction="sent")) == 1
    (session,) = set(sessions)
    assert "session" not in notifier.hook.__dict__
    assert all(not adapter.poolmanager.pools for adapter in session.adapters.values())  # no pooled connection left


async def test_async_notify_closes_the_hooks_session(
    wapiflow_connection: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    wapiflow_connection.add_contact("On-call", "Engineer", *ON_CALL)
    sessions: list[Any] = []
    call = WapiFlowAsyncHook.call

    async def spy(hook: WapiFlowAsyncHook, request: Any) -> dict[str, Any]:
        result = await call(hook, request)
        sessions.append(hook._session)
        return result

    monkeypatch.setattr(WapiFlowAsyncHook, "call", spy)
    await WapiFlowNotifier(recipients="+34699000111", message="disk full").async_notify({})  # type: ignore[arg-type]
    assert len(wapiflow_connection.messages(direction="sent")) == 1
    (session,) = set(sessions)
    assert session.closed
