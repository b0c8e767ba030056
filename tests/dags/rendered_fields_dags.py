"""
DAG for tests/test_rendered_fields.py: recipients and contacts through every way a DAG gives them (templated
text without native rendering, an upstream XCom, a mapped ``expand``), so the stored rendered fields can be read.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator
from airflow_provider_wapiflow.operators.messages import SendMessageOperator, SendTemplateOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@task
def select_recipients(dag_run: Any = None) -> list[dict[str, Any]]:
    return list(dag_run.conf["recipients"])


@task
def in_batches(dag_run: Any = None) -> list[list[str]]:
    phones = [r["phone"] for r in dag_run.conf["recipients"]]
    return [phones[:2], phones[2:]]


with DAG(dag_id="rendered_personal", schedule=None, start_date=START, catchup=False) as rendered_personal:
    # without native rendering the list arrives as its text: the operator reads it as a list
    upsert = UpsertContactsOperator(task_id="upsert", contacts="{{ dag_run.conf['contacts'] }}")
    send_template = SendTemplateOperator(task_id="send_template", template="order_shipped",
                                         recipients=select_recipients())  # fmt: skip
    send_message = SendMessageOperator.partial(task_id="send_message", message="Did it arrive?").expand(
        recipients=in_batches()
    )
    upsert >> send_template >> send_message
