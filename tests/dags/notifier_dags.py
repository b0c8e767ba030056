"""
WapiFlowNotifier as task callbacks: a default alert, a templated text, an alert that cannot be sent (with and
without a fallback), a secret in the exception, and a DAG that renders native objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, BaseHook, BaseNotifier, task

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


# --- secrets, native rendering, fallback -------------------------------------------------------------


class FileNotifier(BaseNotifier):
    """A fallback notifier that writes its rendered text to a file (a stand-in for SmtpNotifier)."""

    template_fields = ("path", "text")

    def __init__(self, path: str, text: str) -> None:
        super().__init__()
        self.path = path
        self.text = text

    def notify(self, context: Any) -> None:
        Path(self.path).write_text(self.text)


@task
def query_warehouse() -> None:
    # The task reads another connection; a driver error quotes its URL, password included.
    conn = BaseHook.get_connection("warehouse_db")
    raise RuntimeError(f"could not connect to postgresql://{conn.login}:{conn.password}@{conn.host}/orders")


with DAG(dag_id="notifier_secret_in_exception", schedule=None, start_date=START, catchup=False) as secret_dag:
    query_warehouse.override(task_id="default_text", on_failure_callback=WapiFlowNotifier(recipients="+34699000111"))()
    query_warehouse.override(
        task_id="user_text",
        on_failure_callback=WapiFlowNotifier(recipients="+34699000111", message="{{ ti.task_id }}: {{ exception }}"),
    )()
    query_warehouse.override(
        task_id="template",
        on_failure_callback=WapiFlowNotifier(
            recipients="+34699000111", template="task_failed_one_line", body_variables=["{{ exception }}"]
        ),
    )()

with DAG(
    dag_id="notifier_native_rendering",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
    params={"on_call": "+34699000111"},
) as native_dag:
    # Native rendering makes an int of "+34699000111": the alert must still go out.
    load_orders.override(on_failure_callback=WapiFlowNotifier(recipients="{{ params.on_call }}"))()

with DAG(
    dag_id="notifier_fallback", schedule=None, start_date=START, catchup=False, params={"fallback_file": ""}
) as fallback_dag:
    # +34699000999 is not a WapiFlow contact: WhatsApp cannot deliver, the fallback gets the text.
    load_orders.override(
        on_failure_callback=WapiFlowNotifier(
            recipients="+34699000999",
            fallback=FileNotifier(
                path="{{ params.fallback_file }}", text="{{ wapiflow_failure }} | {{ wapiflow_text }}"
            ),
        )
    )()
