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
        # A lost answer must stay unknown here, so that the retry path runs (the read-back would prove
        # it sent: tests/test_engine.py covers that).
        read_back_unknown=False,
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


# --- the engine's DAG-level cases: batching, once_per, unretryable errors, clear ---------------------

from airflow_provider_wapiflow.batching import batch_recipients  # noqa: E402
from airflow_provider_wapiflow.operators.messages import SENDS_ASSET  # noqa: E402


@dag(
    dag_id="messages_send_batched",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
)
def messages_send_batched():  # type: ignore[no-untyped-def]
    @task
    def batches(dag_run=None):  # type: ignore[no-untyped-def]
        return batch_recipients(dag_run.conf["recipients"], size=dag_run.conf["size"])

    SendTemplateOperator.partial(task_id="send", template="order_shipped", concurrency=2).expand(recipients=batches())


@dag(
    dag_id="messages_send_once_per",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
)
def messages_send_once_per():  # type: ignore[no-untyped-def]
    SendTemplateOperator(
        task_id="send",
        template="order_shipped",
        recipients=selected_recipients(),
        once_per="{{ dag_run.conf['campaign'] }}",
        concurrency=2,
    )


@dag(
    dag_id="messages_send_once_per_mapped",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
)
def messages_send_once_per_mapped():  # type: ignore[no-untyped-def]
    @task
    def overlapping_batches(dag_run=None):  # type: ignore[no-untyped-def]
        """A naive split that puts some phones in two batches: the guard must still send them once."""
        recipients = dag_run.conf["recipients"]
        return [recipients[:4], recipients[2:]]

    SendTemplateOperator.partial(
        task_id="send",
        template="order_shipped",
        once_per="{{ dag_run.conf['campaign'] }}",
        inlets=[SENDS_ASSET],
        concurrency=2,
    ).expand(recipients=overlapping_batches())


@dag(dag_id="messages_send_unretryable", schedule=None, start_date=START, catchup=False)
def messages_send_unretryable():  # type: ignore[no-untyped-def]
    SendTemplateOperator(
        task_id="send",
        template="{{ dag_run.conf['template'] }}",
        recipients=selected_recipients(),
        retries=2,
        retry_delay=pendulum.duration(seconds=0),
    )


def _clear_dag(dag_id: str, resend_after_clear: bool):  # type: ignore[no-untyped-def]
    @dag(dag_id=dag_id, schedule=None, start_date=START, catchup=False, render_template_as_native_obj=True)
    def clear_dag():  # type: ignore[no-untyped-def]
        SendTemplateOperator(
            task_id="send",
            template="order_shipped",
            recipients=selected_recipients(),
            resend_after_clear=resend_after_clear,
            inlets=[SENDS_ASSET],  # the ledger's home when [state_store] clear_on_success is on
            concurrency=2,
        )

    return clear_dag()


send_batched_dag = messages_send_batched()
send_once_per_dag = messages_send_once_per()
send_once_per_mapped_dag = messages_send_once_per_mapped()
send_unretryable_dag = messages_send_unretryable()
send_clear_dag = _clear_dag("messages_send_clear", resend_after_clear=False)
send_clear_resend_dag = _clear_dag("messages_send_clear_resend", resend_after_clear=True)
