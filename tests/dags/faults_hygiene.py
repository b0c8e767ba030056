"""
DAGs for tests/test_secret_hygiene.py: every operator, the sensor (poke and deferrable) and the notifier,
their input straight from the run conf through templated fields (no upstream XCom holding phones).

The DAG renders native objects, so that the recipient lists arrive as lists; a single phone is then given as
mobile_code + mobile, because native rendering turns "+34600111222" into the number 34600111222.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_wapiflow.notifications.wapiflow import WapiFlowNotifier
from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator
from airflow_provider_wapiflow.operators.conversations import SetConversationStatusOperator
from airflow_provider_wapiflow.operators.messages import SendMessageOperator, SendTemplateOperator
from airflow_provider_wapiflow.sensors.conversations import ConversationSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    dag_id="faults_hygiene",
    schedule=None,
    start_date=START,
    catchup=False,
    render_template_as_native_obj=True,
) as faults_hygiene:
    upsert = UpsertContactsOperator(task_id="upsert", contacts="{{ dag_run.conf['contacts'] }}")
    send_template = SendTemplateOperator(
        task_id="send_template",
        template="order_shipped",
        recipients="{{ dag_run.conf['recipients'] }}",
        concurrency=2,
        retries=1,
        retry_delay=pendulum.duration(seconds=0),
    )
    send_message = SendMessageOperator(
        task_id="send_message", recipients="{{ dag_run.conf['phones'] }}", message="Did your parcel arrive?"
    )
    wait_reply = ConversationSensor(
        task_id="wait_reply",
        mobile_code="{{ dag_run.conf['mobile_code'] }}",
        mobile="{{ dag_run.conf['mobile'] }}",
        updated_after="{{ ti.xcom_pull('send_message')['finished_at'] }}",
        deferrable=True,
        poke_interval=0.2,
        timeout=30,
    )
    close = SetConversationStatusOperator(
        task_id="close", mobile_code="{{ dag_run.conf['mobile_code'] }}", mobile="{{ dag_run.conf['mobile'] }}",
        status="DONE",
    )  # fmt: skip
    wait_done = ConversationSensor(
        task_id="wait_done",
        conversation_id="{{ ti.xcom_pull('close')['conversation_id'] }}",
        statuses=["DONE"],
        poke_interval=0.2,
        timeout=30,
    )
    upsert >> send_template >> send_message >> wait_reply >> close >> wait_done


with DAG(dag_id="faults_hygiene_alert", schedule=None, start_date=START, catchup=False) as faults_hygiene_alert:

    @task(
        on_failure_callback=[
            WapiFlowNotifier(
                recipients="{{ dag_run.conf['on_call'] }}",
                template="order_shipped",
                body_variables=["{{ ti.task_id }}", "{{ run_id }}"],
            ),
            WapiFlowNotifier(recipients=["{{ dag_run.conf['on_call'] }}"]),
        ]
    )
    def load() -> None:
        raise RuntimeError("the warehouse load failed")

    load()
