"""A DAG without WapiFlow, to check that the DAG-run harness itself works."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="harness_smoke", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def harness_smoke():  # type: ignore[no-untyped-def]
    @task(retries=1, retry_delay=pendulum.duration(seconds=0))
    def flaky(ti=None):  # type: ignore[no-untyped-def]
        if ti.try_number == 1:
            raise RuntimeError("first try fails")
        return {"try": ti.try_number}

    flaky()


dag = harness_smoke()
