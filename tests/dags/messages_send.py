"""Bulk sends driven by the run conf, as the send-operator tests need them."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from airflow_provider_wapiflow.operators.messages import SendMessageOperator, SendTemplateOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")


@task
def selected_recipients(dag_run=None):  # type: ignore[no-untyped-def]
    """Stands for the ETL step that selects who gets the message."""
    return dag_run.conf["recipients"]


@dag(
    dag_id="messages_send_template",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
)
def messages_send_template():  # type: ignore[no-untyped-def]
    SendTemplateOperator(
        task_id="send",
        template="{{ dag_run.conf['template'] }}",
        recipients=selected_recipients(),
        body_variables="{{ dag_run.conf.get('body_variables') }}",
        max_failures=1,
        concurrency=1,
        retries=1,
        retry_delay=pendulum.duration(seconds=0),
    )


@dag(
    dag_id="messages_send_template_mapped",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
)
def messages_send_template_mapped():  # type: ignore[no-untyped-def]
    @task
    def batches(dag_run=None):  # type: ignore[no-untyped-def]
        recipients = dag_run.conf["recipients"]
        size = -(-len(recipients) // 3)
        return [recipients[i : i + size] for i in range(0, len(recipients), size)]

    SendTemplateOperator.partial(task_id="send", template="order_shipped", concurrency=4).expand(recipients=batches())


@dag(dag_id="messages_send_message", schedule=None, start_date=START, catchup=False)
def messages_send_message():  # type: ignore[no-untyped-def]
    SendMessageOperator(
        task_id="send",
        recipients=selected_recipients(),
        message="Your invoice for {{ dag_run.conf['month'] }} is attached",
        document="{{ dag_run.conf['document'] }}",
    )


send_template_dag = messages_send_template()
send_template_mapped_dag = messages_send_template_mapped()
send_message_dag = messages_send_message()
