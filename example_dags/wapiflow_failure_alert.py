"""
Alert the on-call engineer on WhatsApp, with an approved template, when a task of this DAG fails.

WhatsApp delivers free-form text only within 24 hours of the recipient's last message, so an
alert that must always arrive uses an approved template. This one is ``airflow_task_failed``:
"Airflow: task {{1}} of DAG {{2}} failed (try {{3}}). Logs: {{4}}".

Trigger the DAG with ``{"fail": true}`` to see the alert.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_wapiflow.notifications.wapiflow import WapiFlowNotifier

# [START howto_notifier_wapiflow_template]
alert_on_call = WapiFlowNotifier(
    recipients="{{ params.on_call_phone }}",
    template="airflow_task_failed",
    body_variables=["{{ ti.task_id }}", "{{ dag.dag_id }}", "{{ ti.try_number }}", "{{ ti.log_url }}"],
)
# [END howto_notifier_wapiflow_template]

with DAG(
    dag_id="wapiflow_failure_alert",
    description="Alert the on-call engineer on WhatsApp when a task fails",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["wapiflow", "example"],
    params={
        "on_call_phone": Param("+34699000111", type="string", description="WapiFlow contact to alert"),
        "fail": Param(False, type="boolean", description="Make load_orders fail, to see the alert"),
    },
    default_args={"on_failure_callback": alert_on_call},
) as dag:

    @task
    def load_orders(params: dict[str, Any] | None = None) -> int:
        """Stands for a warehouse load that can fail."""
        assert params is not None
        if params["fail"]:
            raise RuntimeError("3 order rows were rejected by the warehouse (simulated failure)")
        return 42

    load_orders()
