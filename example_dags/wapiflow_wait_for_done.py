"""
A support case on WhatsApp: wait until an agent marks the conversation done, then close the ticket.

The help-desk system triggers this DAG with the WapiFlow conversation id and its ticket number in
the run conf. Agents can take hours or days, so the sensor runs in ``reschedule`` mode: between two
checks it gives its worker slot back.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.sensors.conversations import ConversationSensor

with DAG(
    dag_id="wapiflow_wait_for_done",
    description="Wait until support marks a WhatsApp conversation done, then close the ticket",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["wapiflow", "example"],
    params={
        "conversation_id": Param(1, type="integer", minimum=1, description="WapiFlow conversation id"),
        "ticket": Param("T-1001", type="string", description="Help-desk ticket to close"),
    },
) as dag:
    # [START howto_sensor_conversation_done]
    wait_until_done = ConversationSensor(
        task_id="wait_until_done",
        conversation_id="{{ params.conversation_id }}",
        statuses=[ConversationStatus.DONE],
        deferrable=False,
        mode="reschedule",  # free the worker slot between checks
        poke_interval=60,
        timeout=3 * 24 * 60 * 60,  # give up after three days
    )
    # [END howto_sensor_conversation_done]

    @task
    def close_ticket(conversation: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Stands for the call that closes the ticket in the help-desk system."""
        assert params is not None
        return {"ticket": params["ticket"], "conversation_id": conversation["id"], "status": conversation["status"]}

    close_ticket(wait_until_done.output)
