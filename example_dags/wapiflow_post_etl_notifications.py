"""
After the nightly load: sync customers to WapiFlow, tell each one their order shipped, wait for a reply.

1. ``extract_shipped_orders`` stands for the ETL step that selects today's shipped orders.
2. ``UpsertContactsOperator`` makes WapiFlow's contacts match those customers (only what changed is written).
3. ``SendTemplateOperator``, mapped over batches made by ``batch_recipients`` (each phone in exactly one
   batch), sends the approved ``order_shipped`` template, personalised per customer.
4. ``ConversationSensor`` (deferrable) waits, in the triggerer, until the customer named by the
   ``reply_from`` param writes back after the send.
5. ``SetConversationStatusOperator`` marks that conversation done.
A ``WapiFlowNotifier`` alerts the on-call engineer on WhatsApp when any task fails.

Run it against the bundled simulator with ``make demo``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_wapiflow.batching import batch_recipients
from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.notifications.wapiflow import WapiFlowNotifier
from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator
from airflow_provider_wapiflow.operators.conversations import SetConversationStatusOperator
from airflow_provider_wapiflow.operators.messages import SendTemplateOperator
from airflow_provider_wapiflow.sensors.conversations import ConversationSensor

# [START howto_notifier_wapiflow]
alert_on_call = WapiFlowNotifier(
    recipients="{{ params.on_call_phone }}",
    message="Airflow: {{ ti.task_id }} failed in {{ dag.dag_id }} (try {{ ti.try_number }}), "
    "run {{ run_id }}: {{ exception }}",
)
# [END howto_notifier_wapiflow]

with DAG(
    dag_id="wapiflow_post_etl_notifications",
    description="Sync customers to WapiFlow, send order_shipped, wait for a reply",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["wapiflow", "example"],
    params={
        "reply_from": Param("+34600111201", type="string", description="Customer whose reply we wait for"),
        "on_call_phone": Param("+34699000111", type="string", description="WapiFlow contact to alert"),
    },
    default_args={"on_failure_callback": alert_on_call, "retries": 1, "retry_delay": pendulum.duration(seconds=30)},
) as dag:

    @task
    def extract_shipped_orders() -> list[dict[str, Any]]:
        """Stands for the warehouse query of the ETL: today's shipped orders with their customers."""
        return [
            {"order": "A-1001", "firstname": "Ana", "lastname": "Ruiz", "phone": "+34600111201", "city": "Madrid"},
            {"order": "A-1002", "firstname": "Eva", "lastname": "Gil", "phone": "+34600111202", "city": "Sevilla"},
            {"order": "A-1003", "firstname": "Luis", "lastname": "Mora", "phone": "+525512345603", "city": "CDMX"},
            {"order": "A-1004", "firstname": "Kai", "lastname": "Berg", "phone": "+4915123456704", "city": "Berlin"},
            {"order": "A-1005", "firstname": "Léa", "lastname": "Roux", "phone": "+33612345605", "city": "Lyon"},
        ]

    @task
    def to_contacts(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: o[k] for k in ("firstname", "lastname", "phone", "city")} for o in orders]

    # [START howto_operator_send_template_batches]
    @task
    def recipient_batches(orders: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """Every phone in exactly one batch (a repeated phone would be messaged once per batch otherwise)."""
        recipients = [{"phone": o["phone"], "body_variables": [o["firstname"], o["order"]]} for o in orders]
        return batch_recipients(recipients, size=2)  # a few hundred to a few thousand in production

    # [END howto_operator_send_template_batches]

    orders = extract_shipped_orders()

    # [START howto_operator_upsert_contacts]
    upsert_contacts = UpsertContactsOperator(
        task_id="upsert_contacts",
        contacts=to_contacts(orders),
        concurrency=8,
    )
    # [END howto_operator_upsert_contacts]

    # [START howto_operator_send_template]
    send_order_shipped = SendTemplateOperator.partial(
        task_id="send_order_shipped",
        template="order_shipped",  # "Hi {{1}}, your order {{2}} has shipped."
        max_failure_rate=0.05,  # tolerate up to 5% failed or unknown recipients per batch
        concurrency=8,
    ).expand(recipients=recipient_batches(orders))
    # [END howto_operator_send_template]

    # [START howto_sensor_conversation]
    wait_for_reply = ConversationSensor(
        task_id="wait_for_reply",
        phone="{{ params.reply_from }}",
        # "the customer wrote after our message": the send summary holds when the first try delivered
        # to each phone, so neither a task retry nor our own later sends can hide or fake the answer
        replied_after=send_order_shipped.output,
        deferrable=True,
        poke_interval=5,
        timeout=6 * 60 * 60,
    )
    # [END howto_sensor_conversation]

    # [START howto_operator_set_conversation_status]
    close_conversation = SetConversationStatusOperator(
        task_id="close_conversation",
        conversation_id="{{ ti.xcom_pull(task_ids='wait_for_reply')['id'] }}",
        status=ConversationStatus.DONE,
    )
    # [END howto_operator_set_conversation_status]

    upsert_contacts >> send_order_shipped >> wait_for_reply >> close_conversation
