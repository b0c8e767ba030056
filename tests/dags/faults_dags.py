"""
DAGs for the fault tests (tests/test_faults.py, tests/test_real_server_failures.py): upserts and template
sends with task retries, their input coming from the run conf the way a warehouse extract would hand it over.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator
from airflow_provider_wapiflow.operators.messages import SendTemplateOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
RETRIES: dict[str, Any] = {"retries": 5, "retry_delay": pendulum.duration(seconds=0)}


@task
def extract_contacts(**context: Any) -> Any:
    """The warehouse rows to upsert."""
    return context["dag_run"].conf["contacts"]


@task
def select_recipients(**context: Any) -> Any:
    """The customers the ETL selected for the template."""
    return context["dag_run"].conf["recipients"]


# The fault run: bring 2,000 contacts in line, then send them a template, under injected faults.
with DAG(dag_id="faults_upsert_and_send", schedule=None, start_date=START, catchup=False) as faults_upsert_and_send:
    upsert = UpsertContactsOperator(
        task_id="upsert",
        contacts=extract_contacts(),
        concurrency=8,
        page_size=500,
        # A write whose answer is lost fails the try; the next try reads the list again and writes only what
        # is still missing. Four tries usually land everything; seven make a run that needs more very unlikely.
        retries=7,
        retry_delay=pendulum.duration(seconds=0),
    )
    send = SendTemplateOperator(
        task_id="send",
        template="order_shipped",
        recipients=select_recipients(),
        concurrency=8,
        # A connection whose hook never retries: a 429 or 503 fails the recipient ("not sent"), so task
        # retries resend them. Unknown outcomes (a fifth of what fails) are never resent, so no number of
        # tries clears them: the budget tolerates them, but not them plus a first try's not-sent ones.
        wapiflow_conn_id="wapiflow_faults_send",
        max_failure_rate=0.17,
        retries=7,
        retry_delay=pendulum.duration(seconds=0),
    )
    upsert >> send


# Real-server failures: a send whose failures (Meta outage, non-contacts) fail the try, so the next
# try resends exactly the recipients that were not delivered.
with DAG(dag_id="faults_send_strict", schedule=None, start_date=START, catchup=False) as faults_send_strict:
    SendTemplateOperator(
        task_id="send", template="order_shipped", recipients=select_recipients(), concurrency=4, **RETRIES
    )

with DAG(dag_id="faults_send_tolerant", schedule=None, start_date=START, catchup=False) as faults_send_tolerant:
    SendTemplateOperator(
        task_id="send",
        template="order_shipped",
        recipients=select_recipients(),
        concurrency=4,
        max_failure_rate=0.5,
        retries=1,
        retry_delay=pendulum.duration(seconds=0),
    )
