"""Used by the browser e2e test: a task whose hook reads the connection that was saved through the UI."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

with DAG(
    dag_id="wapiflow_e2e_saved_connection",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"conn_id": "wapiflow_ui"},
) as dag:

    @task
    def use_saved_connection(params: dict[str, Any] | None = None) -> dict[str, Any]:
        from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook

        hook = WapiFlowHook(params["conn_id"] if params else "wapiflow_ui")
        settings = hook.settings
        return {
            "templates": sorted(template["name"] for template in hook.iter_templates()),
            "base_url": settings.base_url,
            "client_id": settings.client_id,
            "timeout": settings.timeout,
            "max_retries": settings.retry.max_retries,
        }

    use_saved_connection()
