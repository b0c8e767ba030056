"""
Scale-out on CeleryExecutor: a batched campaign survives a worker killed while it sends.

Everything runs for real on 127.0.0.1 and is stopped by the test: PostgreSQL (metadata database and
Celery result backend), Redis (broker), the scheduler, dag-processor, triggerer, API server and two
Celery workers (``worker-a``, ``worker-b``), and the WapiFlow simulator in the test process with
latency, so that each batch takes seconds. The example DAG ``wapiflow_batched_send`` maps
``SendTemplateOperator`` over batches of 200 (``retries=1``). While ``worker-a`` is in the middle of a
batch (seen from the simulator's message log), the whole worker is SIGKILLed: its process group and
the task processes' own groups. Then, from the simulator and from the XComs and task instances read
through the REST API: nobody is messaged twice, every recipient of a lost batch was sent by the
retry or is reported unknown, the retry ran on ``worker-b``, and the batch summaries add up to the
input. The DAG's deferrable ``ConversationSensor`` runs through the triggerer on PostgreSQL.
"""

from __future__ import annotations

import math
import shutil
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow_processes import (
    ROOT,
    AirflowDeployment,
    ManagedProcess,
    RestClient,
    airflow_deployment,
    wait_for_dag,
    wait_until,
)
from services import kill_process_tree, postgres_server, redis_server

from airflow_provider_wapiflow.models import mask_phone
from airflow_provider_wapiflow.testing import WapiFlowSimulator

pytestmark = pytest.mark.e2e

DAG_FILE = ROOT / "example_dags" / "wapiflow_batched_send.py"
DAG_ID = "wapiflow_batched_send"
CUSTOMERS = 2000
BATCH_SIZE = 200
FIRST_MOBILE = 600000001  # the example DAG's customers are +34 600000001, +34 600000002, ...
REPLY_FROM = "+34600000001"
LATENCY = 0.1  # seconds per WapiFlow request: 200 sends, 4 at a time, take about 5 s per batch
WORKERS = ("worker-a", "worker-b")
VICTIM, SURVIVOR = WORKERS
RUN_TIMEOUT = 420.0


def _batch_of(mobile: str) -> int:
    return (int(mobile) - FIRST_MOBILE) // BATCH_SIZE


def _messaged(sim: WapiFlowSimulator) -> Counter[str]:
    """National numbers of the +34 customers the simulator has stored a sent message for, with counts."""
    return Counter(str(m["mobile"]) for m in sim.messages(direction="sent"))


def _celery_env(sim: WapiFlowSimulator, db_url: str, broker_url: str) -> dict[str, str]:
    return {
        "AIRFLOW_CONN_WAPIFLOW_DEFAULT": sim.connection_json(),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "2",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{db_url}",
        "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        # A dead worker's tasks stop heartbeating: fail them (and so retry them) within seconds.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "1",
        # A task message the dead worker had taken but not started is requeued rather than lost.
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "120",
    }


def _start_workers(deployment: AirflowDeployment) -> dict[str, ManagedProcess]:
    workers = {}
    for name in WORKERS:
        env = {
            "WAPIFLOW_E2E_WORKER_HOST": name,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_hostname.hostname",
            "PYTHONPATH": str(Path(__file__).parent),
        }
        workers[name] = deployment.start_celery_worker(name, concurrency=2, env=env)
    for name, worker in workers.items():
        wait_until(
            lambda w=worker: True if " ready." in w.log_tail(200) else None,
            timeout=120,
            what=f"Celery worker {name} to be ready",
            alive=deployment.check_alive,
        )
    return workers


def _task_instances(rest: RestClient, run_id: str) -> list[dict[str, Any]]:
    answer = rest.get(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
    return list(answer["task_instances"])


def _xcom(rest: RestClient, run_id: str, task_id: str, map_index: int | None = None) -> Any:
    params: dict[str, Any] = {"deserialize": "true"}
    if map_index is not None:
        params["map_index"] = map_index
    path = f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
    return rest.get(path, params=params)["value"]


class CampaignWatch:
    """Polls the run; kills the victim worker mid-batch; lets the customer reply once the sensor defers."""

    def __init__(self, rest: RestClient, deployment: AirflowDeployment, sim: WapiFlowSimulator, run_id: str) -> None:
        self.rest, self.deployment, self.sim, self.run_id = rest, deployment, sim, run_id
        self.victim: ManagedProcess | None = None
        self.killed_batches: list[int] = []
        self.lost_batches: list[int] = []
        self.killed_at_total = 0
        self.killed_at_batch: dict[int, int] = {}
        self.after_kill: Counter[str] = Counter()
        self.sensor_states: set[str] = set()
        self.replied = False

    def kill_when_sending(self, victim: ManagedProcess) -> None:
        self.victim = victim

    def poll(self) -> dict[str, Any] | None:
        tis = _task_instances(self.rest, self.run_id)
        if self.victim is not None:
            self._maybe_kill(tis)
        for ti in tis:
            if ti["task_id"] == "wait_for_reply":
                self.sensor_states.add(str(ti["state"]))
                if ti["state"] == "deferred" and not self.replied:
                    self._reply()
        run: dict[str, Any] = self.rest.get(f"dags/{DAG_ID}/dagRuns/{self.run_id}")
        return run if run["state"] in ("success", "failed") else None

    def _maybe_kill(self, tis: list[dict[str, Any]]) -> None:
        on_victim = [
            ti["map_index"]
            for ti in tis
            if ti["task_id"] == "send_batch" and ti["state"] == "running" and ti["hostname"] == VICTIM
        ]
        if not on_victim:
            return
        messaged = _messaged(self.sim)
        per_batch = Counter(_batch_of(mobile) for mobile in messaged)
        # Mid-batch: it has sent some of its recipients, and a good part is still to go.
        if not any(0 < per_batch[index] < BATCH_SIZE * 3 // 4 for index in on_victim):
            return
        assert self.victim is not None
        kill_process_tree(self.victim.popen.pid)
        self.deployment.processes.remove(self.victim)  # its death is the point: not a failure of the stack
        self.killed_at_total = sum(messaged.values())
        self.killed_at_batch = {index: per_batch[index] for index in on_victim}
        self.killed_batches = sorted(on_victim)
        self.victim = None
        time.sleep(1.0)  # requests that had reached the simulator are stored by now
        self.after_kill = _messaged(self.sim)

    def _reply(self) -> None:
        """The customer answers in a later second than the campaign finished (WapiFlow keeps seconds)."""
        finished_at = datetime.fromisoformat(_xcom(self.rest, self.run_id, "report")["finished_at"]).timestamp()
        time.sleep(max(0.0, math.floor(finished_at) + 1.05 - time.time()))
        self.sim.simulate_reply("34", REPLY_FROM.removeprefix("+34"), "Received, thanks")
        self.replied = True


@pytest.mark.timeout(900)
def test_batched_send_survives_a_celery_worker_killed_mid_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wall = time.monotonic()
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags)
    with (
        WapiFlowSimulator(latency=LATENCY, latency_includes_processing=True) as sim,
        postgres_server() as (_, db_url),
        redis_server() as (_, broker_url),
    ):
        sim.bulk_seed_contacts(CUSTOMERS, "34", FIRST_MOBILE)
        env = _celery_env(sim, db_url, broker_url)
        with airflow_deployment(tmp_path / "airflow-celery", dags_folder=dags, extra_env=env) as deployment:
            deployment.start_api_server()
            deployment.start_scheduler_stack()
            workers = _start_workers(deployment)
            deployment.wait_for_api()
            rest = deployment.rest()
            wait_for_dag(rest, deployment, DAG_ID, timeout=120)
            stack_up = time.monotonic() - wall
            conf = {"customers": CUSTOMERS, "batch_size": BATCH_SIZE, "max_problem_ratio": 0.5}
            run_started = time.monotonic()
            run_id = rest.post(f"dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]
            watch = CampaignWatch(rest, deployment, sim, run_id)
            watch.kill_when_sending(workers[VICTIM])
            run = wait_until(
                watch.poll, timeout=RUN_TIMEOUT, interval=0.3, what=f"run {run_id}", alive=deployment.check_alive
            )
            run_time = time.monotonic() - run_started
            # Of the Airflow processes only the API server listens, on loopback (workers serve no logs).
            assert deployment.listening() == {"api-server": {f"127.0.0.1:{deployment.api_port}"}}
            unknowns = _check_run(rest, run_id, run, watch, sim, deployment)
            _check_sensor(rest, run_id, watch)
    figures = (
        f"celery e2e: recipients={CUSTOMERS} batches={CUSTOMERS // BATCH_SIZE} "
        f"killed {VICTIM} at {watch.killed_at_total} messages stored "
        f"(messages per batch seen running on it: {watch.killed_at_batch} of {BATCH_SIZE}; "
        f"batches lost with it: {watch.lost_batches}) "
        f"recipients messaged={len(_messaged(sim))} max messages per recipient={max(_messaged(sim).values())} "
        f"unknowns={unknowns} "
        f"stack up in {stack_up:.0f} s, DAG run {run_time:.0f} s, wall time {time.monotonic() - wall:.0f} s"
    )
    with capsys.disabled():  # the figures show in every make test run, not only on failure
        print(f"\n{figures}")


def _check_run(
    rest: RestClient,
    run_id: str,
    run: dict[str, Any],
    watch: CampaignWatch,
    sim: WapiFlowSimulator,
    deployment: AirflowDeployment,
) -> int:
    """Check the run against the simulator; return how many recipients ended unknown."""
    tis = _task_instances(rest, run_id)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in tis}
    assert run["state"] == "success", f"run ended {run['state']}: {states}\n{deployment.logs()}"
    assert set(states.values()) == {"success"}, states
    assert watch.killed_batches, f"{VICTIM} never ran a batch mid-send, so it was not killed: {states}"

    batches = _xcom(rest, run_id, "make_batches")
    assert len(batches) == CUSTOMERS // BATCH_SIZE >= 10
    summaries = [_xcom(rest, run_id, "send_batch", index) for index in range(len(batches))]
    final = _messaged(sim)

    # Nobody is messaged twice, and only the campaign's customers are messaged.
    assert max(final.values()) == 1, [m for m, n in final.items() if n > 1][:10]
    assert {int(m) for m in final} <= set(range(FIRST_MOBILE, FIRST_MOBILE + CUSTOMERS))

    # The summaries account for every recipient of the input, batch by batch and in total.
    for index, (batch, summary) in enumerate(zip(batches, summaries, strict=True)):
        assert summary["recipients"] == len(batch), (index, summary)
        accounted = summary["sent"] + summary["skipped"] + summary["failed_count"] + summary["unknown_count"]
        assert accounted == len(batch), (index, summary)
    assert sum(s["recipients"] for s in summaries) == CUSTOMERS
    report = _xcom(rest, run_id, "report")
    assert report["recipients"] == CUSTOMERS
    assert report["batches"] == len(batches)
    for key in ("sent", "skipped", "failed_count", "unknown_count"):
        assert report[key] == sum(s[key] for s in summaries), key

    # Lost batches: try 1 ran on the victim and did not finish. They include the batch(es) seen
    # mid-send at the kill, and any batch the victim had just started.
    tries = {
        index: rest.get(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/send_batch/{index}/tries")["task_instances"]
        for index in range(len(batches))
    }
    lost = sorted(
        index
        for index, ti_tries in tries.items()
        if any(t["try_number"] == 1 and t["hostname"] == VICTIM and t["state"] != "success" for t in ti_tries)
    )
    assert set(watch.killed_batches) <= set(lost), (watch.killed_batches, lost, tries)
    watch.lost_batches = lost

    unknown_total = 0
    for index, (batch, summary) in enumerate(zip(batches, summaries, strict=True)):
        mobiles = [r["phone"].removeprefix("+34") for r in batch]
        if index not in lost:
            # Untouched batches: one try, everyone sent.
            assert [t["try_number"] for t in tries[index]] == [1], (index, tries[index])
            assert summary["sent"] == len(batch), (index, summary)
            assert all(final[m] == 1 for m in mobiles), index
            continue
        # A lost batch: try 1 died on the victim, try 2 ran on the survivor.
        by_try = {t["try_number"]: t for t in tries[index]}
        assert sorted(by_try) == [1, 2], (index, tries[index])
        assert by_try[1]["hostname"] == VICTIM, by_try[1]
        assert by_try[2]["hostname"] == SURVIVOR, by_try[2]
        assert by_try[2]["state"] == "success", by_try[2]
        assert summary["try_number"] == 2, summary
        unknown = _unknown_mobiles(batch, summary)
        assert len(unknown) == summary["unknown_count"], summary
        unknown_total += len(unknown)
        sent_by_retry = {m for m in mobiles if final[m] and not watch.after_kill[m]}
        assert len(sent_by_retry) == summary["sent"], (index, summary, len(sent_by_retry))
        counts = {k: v for k, v in summary.items() if not isinstance(v, list | dict)}
        resent = sorted(sent_by_retry & unknown)
        assert not resent, f"batch {index}: unknown recipients messaged after the kill: {resent[:20]} {counts}"
        before_kill = {m for m in mobiles if watch.after_kill[m]}
        # Skipped = delivered by try 1 and known so from the ledger; all of them had been messaged.
        assert summary["skipped"] <= len(before_kill), (index, summary, len(before_kill))
        for mobile in mobiles:
            assert final[mobile] == 1 or mobile in unknown, f"batch {index}: +34{mobile} neither sent nor unknown"
    # Every customer was messaged once, or is reported unknown without a message.
    assert sum(final.values()) + sum(1 for _ in _unknown_unsent(batches, summaries, final)) == CUSTOMERS
    return unknown_total


def _unknown_mobiles(batch: list[dict[str, Any]], summary: dict[str, Any]) -> set[str]:
    """The batch's recipients a summary reports unknown, by their masked phone (unique in a batch)."""
    by_mask = {mask_phone(r["phone"]): r["phone"].removeprefix("+34") for r in batch}
    assert len(by_mask) == len(batch)
    return {by_mask[entry["recipient"]] for entry in summary["unknown"]}


def _unknown_unsent(batches: list[list[dict[str, Any]]], summaries: list[dict[str, Any]], final: Counter[str]) -> Any:
    for batch, summary in zip(batches, summaries, strict=True):
        for mobile in _unknown_mobiles(batch, summary):
            if not final[mobile]:
                yield mobile


def _check_sensor(rest: RestClient, run_id: str, watch: CampaignWatch) -> None:
    """The sensor deferred on a worker, the triggerer fired it, and the same try resumed."""
    assert "deferred" in watch.sensor_states, watch.sensor_states
    tries = rest.get(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/wait_for_reply/tries")["task_instances"]
    assert [t["try_number"] for t in tries] == [1], tries
    answer = rest.get(
        f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/wait_for_reply/logs/1",
        params={"full_content": "true"},
        headers={"Accept": "application/json"},
    )
    events = [str(line.get("event", "")) if isinstance(line, dict) else str(line) for line in answer["content"]]
    assert any(e == "Trigger fired event" for e in events), events
    conversation = _xcom(rest, run_id, "wait_for_reply")
    assert conversation["phone"] == mask_phone(REPLY_FROM), conversation  # the XCom keeps only the masked phone
    assert conversation["whatsapp_account_id"] != 0, conversation  # the reply conversation, not the API one
