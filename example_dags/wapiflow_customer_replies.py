"""
Route customers' WhatsApp answers as they arrive: a DAG run per reply, no sensor holding a slot.

The asset's watcher (a ``WapiFlowConversationEventTrigger`` in the triggerer) polls WapiFlow's
conversation list and emits an asset event each time a customer writes. Each run marks the customer's
conversation IMPORTANT for the agents (and is where a CRM update or a ticket would go). Activity that
existed before the DAG was deployed does not start runs; our own API sends never do.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_wapiflow.assets import wapiflow_conversation_asset
from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.operators.conversations import SetConversationStatusOperator

# [START howto_asset_wapiflow_conversation]
customer_replies = wapiflow_conversation_asset("wapiflow_customer_replies", poll_interval=30)
# [END howto_asset_wapiflow_conversation]

# [START howto_dag_on_wapiflow_replies]
with DAG(
    dag_id="wapiflow_customer_replies",
    description="Flag every conversation a customer just wrote in",
    schedule=[customer_replies],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["wapiflow", "example", "events"],
) as dag:

    @task
    def replied_conversations(triggering_asset_events: Any = None) -> list[int]:
        """The conversations of the events behind this run (several replies can share one run)."""
        events = triggering_asset_events[customer_replies] if triggering_asset_events else []
        payloads = [event.extra["payload"] for event in events if "payload" in event.extra]
        for payload in payloads:
            print(f"{payload['phone']} wrote in conversation {payload['conversation_id']}: {payload['changed']}")
        return sorted({int(p["conversation_id"]) for p in payloads})

    SetConversationStatusOperator.partial(task_id="flag_conversation", status=ConversationStatus.IMPORTANT).expand(
        conversation_id=replied_conversations()
    )
# [END howto_dag_on_wapiflow_replies]
