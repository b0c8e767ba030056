"""WapiFlowNotifier as task callbacks: a default alert, a templated text, and an alert that cannot be sent."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_wapiflow.notifications.wapiflow import WapiFlowNotifier

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@task
def load_orders() -> None:
    raise RuntimeError("3 order rows were rejected by the warehouse")


@task
def publish_report() -> str:
    return "published"


with DAG(dag_id="notifier_default_alert", schedule=None, start_date=START, catchup=False) as default_alert:
    load_orders.override(on_failure_callback=WapiFlowNotifier(recipients="+34699000111"))()

with DAG(dag_id="notifier_templated_text", schedule=None, start_date=START, catchup=False) as templated_text:
    publish_report.override(
        on_success_callback=WapiFlowNotifier(
            recipients=["+34699000111", {"mobile_code": "34", "mobile": "699000112"}],
            message="{{ ti.task_id }} of {{ dag.dag_id }} done: {{ ti.xcom_pull(task_ids=ti.task_id) }}",
        )
    )()

with DAG(dag_id="notifier_cannot_send", schedule=None, start_date=START, catchup=False) as cannot_send:
    # The on-call number is not a WapiFlow contact: the alert fails, the task's own error must stay.
    load_orders.override(on_failure_callback=WapiFlowNotifier(recipients="+34699000999"))()
