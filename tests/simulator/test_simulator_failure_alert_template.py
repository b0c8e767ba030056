"""Issue 15 point 12: the failure-alert example's template ``airflow_task_failed`` is seeded, so the example
delivers against a fresh simulator as its docstring promises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator_helpers import Api, template_id

from airflow_provider_wapiflow.testing import WapiFlowSimulator

BODY = "Airflow: task {{1}} of DAG {{2}} failed (try {{3}}). Logs: {{4}}"


def test_the_template_is_seeded_approved_with_four_placeholders(any_api: Api) -> None:
    sim = any_api.sim
    (template,) = [t for t in sim.templates() if t["name"] == "airflow_task_failed"]
    assert (template["body"], template["status"], template["header"]) == (BODY, 1, None)
    listed = any_api.json("GET", "inbox/template-list", params={"paginate": 50})["data"]["templates"]["data"]
    assert "airflow_task_failed" in [t["name"] for t in listed]

    sim.add_contact("On-call", "Engineer", "34", "699000111")
    values = ["load_orders", "wapiflow_failure_alert", "1", "http://localhost:8080/log"]
    data = {"mobile_code": "34", "mobile": "699000111", "template_id": template["id"], "body_variables[]": values}
    answer = any_api.json("POST", "inbox/send-template-message", data=data)
    expected = "Message sent successfully" if sim.patched else "Undefined variable $conversationId"
    assert answer["message"] == [expected], answer
    (delivery,) = sim.deliveries()
    assert delivery["body"] == (
        "Airflow: task load_orders of DAG wapiflow_failure_alert failed (try 1). Logs: http://localhost:8080/log"
    )
    assert delivery["template_id"] == template_id(sim, "airflow_task_failed")


def test_the_failure_alert_example_delivers_against_a_fresh_simulator(
    run_dag: Callable[..., Any], wapiflow_connection: WapiFlowSimulator
) -> None:
    sim = wapiflow_connection
    sim.add_contact("On-call", "Engineer", "34", "699000111")  # the example's default on-call phone

    assert run_dag("wapiflow_failure_alert.py").succeeded
    assert sim.deliveries() == []
    failed = run_dag("wapiflow_failure_alert.py", run_conf={"fail": True})

    assert failed.state == "failed"
    (alert,) = sim.deliveries()
    assert (alert["e164"], alert["kind"]) == ("+34699000111", "template")
    assert alert["template_id"] == template_id(sim, "airflow_task_failed")
    assert alert["body"].startswith("Airflow: task load_orders of DAG wapiflow_failure_alert failed (try 1). Logs: ")
    assert sim.delivery_counts() == {"+34699000111": 1}
