"""
DAGs for tests/test_operator_contacts.py: an upstream task hands the rows (from the run conf) to
UpsertContactsOperator, the way a warehouse-extract task would.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

#: dag_id → UpsertContactsOperator keyword arguments.
VARIANTS: dict[str, dict[str, Any]] = {
    "contacts_upsert": {"page_size": 7},
    "contacts_dry_run": {"page_size": 7, "dry_run": True},
    "contacts_update_existing_off": {"page_size": 7, "update_existing": False},
    "contacts_max_failures_ratio": {"max_failure_rate": 0.2},
    "contacts_max_failures_count": {"max_failures": 1},
    "contacts_plan_limit": {"page_size": 7, "concurrency": 1},
}


@task
def extract(**context: Any) -> Any:
    """Stands in for the warehouse query: the rows come from the run conf."""
    return context["dag_run"].conf["rows"]


def _upsert_dag(dag_id: str, options: dict[str, Any]) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as dag:
        UpsertContactsOperator(task_id="upsert", contacts=extract(), **options)
    return dag


for _dag_id, _options in VARIANTS.items():
    globals()[_dag_id] = _upsert_dag(_dag_id, _options)


@task
def extract_batches(**context: Any) -> Any:
    return context["dag_run"].conf["batches"]


with DAG(dag_id="contacts_mapped", schedule=None, start_date=START, catchup=False) as contacts_mapped:
    UpsertContactsOperator.partial(task_id="upsert", page_size=10, concurrency=2).expand(contacts=extract_batches())
