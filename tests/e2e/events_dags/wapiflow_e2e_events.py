"""The event-driven example's shape with a short poll interval, for tests/e2e/test_e2e_events.py."""

from __future__ import annotations

import os
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_wapiflow.assets import wapiflow_conversation_asset
from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.operators.conversations import SetConversationStatusOperator

replies = wapiflow_conversation_asset(
    "wapiflow_e2e_replies", poll_interval=float(os.environ.get("WAPIFLOW_E2E_POLL_INTERVAL", "2"))
)

with DAG(
    dag_id="wapiflow_e2e_events",
    schedule=[replies],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=16,
) as dag:

    @task
    def replied_conversations(triggering_asset_events: Any = None) -> list[int]:
        events = triggering_asset_events[replies] if triggering_asset_events else []
        return sorted({int(e.extra["payload"]["conversation_id"]) for e in events if "payload" in e.extra})

    SetConversationStatusOperator.partial(task_id="flag_conversation", status=ConversationStatus.IMPORTANT).expand(
        conversation_id=replied_conversations()
    )
