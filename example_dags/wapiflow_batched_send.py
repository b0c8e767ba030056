"""
One big campaign, sent by many workers: ``SendTemplateOperator`` mapped over batches of recipients.

1. ``select_customers`` stands for the warehouse query: every customer to notify, with their variables.
2. ``make_batches`` splits them with ``batch_recipients`` into batches of ``batch_size`` (every phone
   in exactly one batch); each batch becomes one mapped task
   instance, so a CeleryExecutor (or KubernetesExecutor) spreads the batches over its workers.
3. ``send_batch`` (``SendTemplateOperator.partial(...).expand(...)``) sends ``order_shipped`` to one
   batch. Each mapped instance keeps its own delivery ledger: if its worker dies, the retry skips
   what was delivered and reports the recipients whose send was in flight as *unknown*, never
   sending them twice.
4. ``report`` adds up the batch summaries and fails the run when more recipients failed or are
   unknown than ``max_problem_ratio`` allows: one decision for the whole campaign.
5. ``wait_for_reply`` (deferrable ``ConversationSensor``) waits in the triggerer for an answer from
   the customer named by ``reply_from``.

The deployment recipe for Celery is in the docs: :doc:`/celery`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_wapiflow.batching import batch_recipients
from airflow_provider_wapiflow.operators.messages import SendTemplateOperator
from airflow_provider_wapiflow.sensors.conversations import ConversationSensor

FIRST_NAMES = ("Ana", "Luis", "Marta", "Jorge", "Lucía", "Pablo", "Elena", "Diego", "Sara", "Iker")
SUMMED = ("recipients", "sent", "skipped", "failed_count", "unknown_count")

with DAG(
    dag_id="wapiflow_batched_send",
    description="Send order_shipped to thousands of customers in mapped batches, then wait for a reply",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["wapiflow", "example"],
    params={
        "customers": Param(2000, type="integer", minimum=1, description="How many customers to notify"),
        "batch_size": Param(200, type="integer", minimum=1, description="Recipients per mapped task"),
        "max_problem_ratio": Param(
            0.05, type="number", minimum=0, maximum=1, description="Failed + unknown share that fails the run"
        ),
        "reply_from": Param("+34600000001", type="string", description="Customer whose reply we wait for"),
    },
    default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=5)},
) as dag:

    @task
    def select_customers(params: dict[str, Any]) -> list[dict[str, Any]]:
        """Stands for the warehouse query: one row per customer, with the template's variables."""
        return [
            {"phone": f"+34{600000001 + i}", "body_variables": [FIRST_NAMES[i % 10], f"B-{i + 1:05d}"]}
            for i in range(params["customers"])
        ]

    # [START howto_operator_send_template_mapped]
    @task
    def make_batches(recipients: list[dict[str, Any]], params: dict[str, Any]) -> list[list[dict[str, Any]]]:
        """Every phone in exactly one batch, the same batches on a retry; positions stay those of the input."""
        return batch_recipients(recipients, size=params["batch_size"])

    send_batch = SendTemplateOperator.partial(
        task_id="send_batch",
        template="order_shipped",  # "Hi {{1}}, your order {{2}} has shipped."
        # A batch never fails on its recipients: ``report`` judges the campaign as a whole.
        max_failure_rate=1.0,
        concurrency=4,  # sends in flight per batch; times the worker slots = load on WapiFlow
        retries=1,
        retry_delay=pendulum.duration(seconds=5),
    ).expand(recipients=make_batches(select_customers()))
    # [END howto_operator_send_template_mapped]

    @task
    def report(summaries: Sequence[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        """The campaign's totals; too many failed or unknown recipients fail the run."""
        batches = list(summaries)
        totals: dict[str, Any] = {key: sum(int(s[key]) for s in batches) for key in SUMMED}
        totals["batches"] = len(batches)
        totals["finished_at"] = max(s["finished_at"] for s in batches)
        problems = totals["failed_count"] + totals["unknown_count"]
        if problems > params["max_problem_ratio"] * totals["recipients"]:
            raise AirflowFailException(
                f"{totals['failed_count']} of {totals['recipients']} recipients failed and "
                f"{totals['unknown_count']} have an unknown outcome: more than max_problem_ratio="
                f"{params['max_problem_ratio']} allows. The batch summaries list them."
            )
        return totals

    totals = report(send_batch.output)

    wait_for_reply = ConversationSensor(
        task_id="wait_for_reply",
        phone="{{ params.reply_from }}",
        updated_after="{{ ti.xcom_pull(task_ids='report')['finished_at'] }}",
        deferrable=True,
        poke_interval=5,
        timeout=6 * 60 * 60,
    )

    totals >> wait_for_reply
