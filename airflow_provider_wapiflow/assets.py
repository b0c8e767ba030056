"""WapiFlow conversations as Airflow assets: schedule a DAG on "a customer wrote" in one line."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetWatcher

from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.triggers.events import WapiFlowConversationEventTrigger


def wapiflow_conversation_asset(
    name: str,
    *,
    activity: bool = True,
    status: ConversationStatus | int | str | None = None,
    search: str | None = None,
    poll_interval: float = 60.0,
    replay_existing: bool = False,
    wapiflow_conn_id: str = "wapiflow_default",
    uri: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Asset:
    """
    An :class:`~airflow.sdk.Asset` watched by a :class:`WapiFlowConversationEventTrigger`.

    ``schedule=[wapiflow_conversation_asset("vip_replies", search="600111")]`` starts a DAG run for
    every customer reply (and/or every conversation entering ``status``); the run reads the
    conversation from ``triggering_asset_events``. The arguments are the trigger's (see there); the
    asset's URI defaults to ``wapiflow://<connection>/conversations/<name>``.
    """
    trigger = WapiFlowConversationEventTrigger(
        name=name,
        activity=activity,
        status=int(status) if isinstance(status, ConversationStatus) else status,
        search=search,
        poll_interval=poll_interval,
        replay_existing=replay_existing,
        wapiflow_conn_id=wapiflow_conn_id,
    )
    return Asset(
        name=name,
        uri=uri or f"wapiflow://{wapiflow_conn_id}/conversations/{name}",
        extra=extra or {},
        watchers=[AssetWatcher(name=f"{name}_watcher", trigger=trigger)],
    )


__all__ = ["wapiflow_conversation_asset"]
