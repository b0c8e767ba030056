"""DAGs for the ConversationSensor / SetConversationStatusOperator tests (run with dag.test())."""

from __future__ import annotations

from datetime import datetime, timezone

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_wapiflow.models import ConversationStatus, Phone
from airflow_provider_wapiflow.operators.conversations import SetConversationStatusOperator
from airflow_provider_wapiflow.sensors.conversations import ConversationSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARAMS = {"phone": "+34600111222"}

with DAG(
    dag_id="conversation_approval_deferrable", schedule=None, start_date=START, catchup=False, params=PARAMS
) as approval:

    @task
    def send(params: dict[str, str] | None = None) -> dict[str, str]:
        from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook

        assert params is not None
        phone = Phone.parse(params["phone"])
        WapiFlowHook().send_message(phone.mobile_code, phone.mobile, "Approve the refund? Reply YES or NO")
        return {"finished_at": datetime.now(timezone.utc).isoformat()}

    wait = ConversationSensor(
        task_id="wait",
        phone="{{ params.phone }}",
        updated_after="{{ ti.xcom_pull('send')['finished_at'] }}",
        deferrable=True,
        poke_interval=0.3,
        timeout=30,
    )
    close = SetConversationStatusOperator(
        task_id="close", conversation_id="{{ ti.xcom_pull('wait')['id'] }}", status="DONE"
    )
    send() >> wait >> close


with DAG(
    dag_id="conversation_wait_done_reschedule", schedule=None, start_date=START, catchup=False, params=PARAMS
) as reschedule:
    ConversationSensor(
        task_id="wait",
        mobile_code="{{ params.phone[1:3] }}",
        mobile="{{ params.phone[3:] }}",
        statuses=[ConversationStatus.DONE],
        mode="reschedule",
        poke_interval=1,
        timeout=30,
    )


with DAG(
    dag_id="conversation_wrong_secret", schedule=None, start_date=START, catchup=False, params=PARAMS
) as wrong_secret:
    ConversationSensor(
        task_id="wait",
        phone="{{ params.phone }}",
        statuses=[ConversationStatus.DONE],
        deferrable=True,
        poke_interval=0.3,
        timeout=600,
        retries=3,
        retry_delay=pendulum.duration(seconds=0),
    )
