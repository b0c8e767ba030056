"""WapiFlowNotifier: real callbacks in DAG runs, the async path, and failures that must not mask the task's error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dag_runs import DagRunResult

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.get_provider_info import get_provider_info
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
    assert "WapiFlow notification: 0 sent, 1 not delivered: +********999 is not a WapiFlow contact" in logs
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
