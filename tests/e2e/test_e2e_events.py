"""
Event-driven scheduling under a real deployment: a customer's reply starts a DAG run through an asset watcher.

Scheduler, dag-processor, triggerer and API server run as processes on 127.0.0.1 (LocalExecutor, SQLite);
the simulator runs in the test. Checked: activity that predates the watcher and our own API sends start
nothing; each reply starts exactly one run within two poll intervals (the latency is printed); a reply
while the triggerer is down starts one run after its restart (the watermark is in the asset state store),
and nothing already fired fires again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow_processes import AirflowDeployment, RestClient, airflow_deployment, wait_until

from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook
from airflow_provider_wapiflow.testing import WapiFlowSimulator

pytestmark = pytest.mark.e2e

DAG_ID = "wapiflow_e2e_events"
DAGS = Path(__file__).resolve().parent / "events_dags"
POLL = 2.0
ANA, BOB, EVA = ("34", "600111201"), ("34", "600111202"), ("34", "600111203")


@pytest.fixture
def simulator() -> Iterator[WapiFlowSimulator]:
    with WapiFlowSimulator() as sim:
        yield sim


def _runs(rest: RestClient) -> list[dict[str, Any]]:
    runs = rest.get(f"dags/{DAG_ID}/dagRuns")["dag_runs"]
    return sorted((r for r in runs if r["run_type"] == "asset_triggered"), key=lambda r: r["queued_at"])


def _when(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _polls(sim: WapiFlowSimulator) -> int:
    return sim.request_count(path_prefix="inbox/conversation-list")


def _wait_polls(sim: WapiFlowSimulator, deployment: AirflowDeployment, more: int) -> None:
    target = _polls(sim) + more
    wait_until(lambda: True if _polls(sim) >= target else None, timeout=60, interval=0.2,
               what=f"{more} more polls of the watcher", alive=deployment.check_alive)  # fmt: skip


def _reply_and_time_the_run(
    sim: WapiFlowSimulator, rest: RestClient, deployment: AirflowDeployment, who: tuple[str, str], before: int
) -> tuple[dict[str, Any], float, float]:
    """The customer writes (in a fresh second); return the run it started and the latencies to it."""
    time.sleep(1.02 - time.time() % 1)  # WapiFlow keeps whole seconds: a new second is a new activity
    replied = time.time()
    sim.simulate_reply(*who, "Yes please")

    def new_run() -> dict[str, Any] | None:
        runs = _runs(rest)
        return runs[-1] if len(runs) > before and runs[-1].get("start_date") else None

    run = wait_until(new_run, timeout=60, interval=0.1, what="a DAG run for the reply", alive=deployment.check_alive)
    return run, _when(run["queued_at"]) - replied, _when(run["start_date"]) - replied


def test_a_reply_starts_exactly_one_dag_run(
    simulator: WapiFlowSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = simulator
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", sim.connection_json())  # our own sends, from the test
    for who in (ANA, BOB, EVA):
        sim.add_contact("Customer", who[1][-1], *who)
    sim.simulate_reply(*ANA, "Written before the watcher existed")
    env = {"AIRFLOW_CONN_WAPIFLOW_DEFAULT": sim.connection_json(), "WAPIFLOW_E2E_POLL_INTERVAL": str(POLL)}
    with airflow_deployment(tmp_path / "airflow-events", dags_folder=DAGS, extra_env=env) as deployment:
        deployment.start_api_server()
        deployment.start_scheduler_stack()
        started = time.monotonic()
        deployment.wait_for_api()
        rest = deployment.rest()
        # The watcher is running once the triggerer polls WapiFlow.
        wait_until(lambda: True if _polls(sim) >= 2 else None, timeout=90, interval=0.3,
                   what="the asset watcher's first polls", alive=deployment.check_alive)  # fmt: skip
        print(f"events: watcher polling {time.monotonic() - started:.1f} s after the processes started")

        # Activity before the watcher, and our own API sends (the API conversation moves), start nothing.
        WapiFlowHook().send_message(*BOB, "Your order shipped")
        _wait_polls(sim, deployment, 3)
        assert _runs(rest) == []

        latencies = []
        for count, who in enumerate((BOB, EVA), start=1):
            _run, to_queued, to_start = _reply_and_time_the_run(sim, rest, deployment, who, before=count - 1)
            latencies.append((to_queued, to_start))
            print(f"events: reply -> DAG run queued {to_queued:.2f} s, started {to_start:.2f} s (poll {POLL} s)")
            assert to_queued <= 2 * POLL + 1.0, f"run queued {to_queued:.2f} s after the reply"
            _wait_polls(sim, deployment, 2)
            assert len(_runs(rest)) == count  # exactly one run per reply

        # Each run flagged the conversation its event named: the reply conversation, not the API one.
        def all_done() -> bool | None:
            return True if all(r["state"] == "success" for r in _runs(rest)) else None

        wait_until(all_done, timeout=60, interval=0.5, what="the runs to succeed", alive=deployment.check_alive)
        flagged = {c["contact"]["mobile"]: (c["whatsapp_account_id"], c["status"]) for c in sim.conversations()
                   if c["status"] == 3}  # fmt: skip
        assert flagged == {BOB[1]: (1, 3), EVA[1]: (1, 3)}, sim.conversations()

        print(f"events: two replies handled {time.monotonic() - started:.1f} s after the processes started")
        # The triggerer goes away; Ana writes; the restarted triggerer fires her reply once, nothing else.
        (triggerer,) = [p for p in deployment.processes if p.name == "triggerer"]
        triggerer.stop(grace=5.0)  # a hard stop after 5 s is fine: the watermark is in the metadata database
        deployment.processes.remove(triggerer)  # stopped on purpose: not a crash for check_alive
        time.sleep(1.02 - time.time() % 1)
        sim.simulate_reply(*ANA, "Anyone there?")
        deployment.start("triggerer", "triggerer", "--skip-serve-logs")
        wait_until(
            lambda: True if len(_runs(rest)) == 3 else None,
            timeout=90,
            interval=0.3,
            what="the run for the reply made while the triggerer was down",
            alive=deployment.check_alive,
        )
        _wait_polls(sim, deployment, 2)
        assert len(_runs(rest)) == 3
        print(f"events: restart checked {time.monotonic() - started:.1f} s after the processes started")
        print(f"events: latencies (queued, started) {[(round(q, 2), round(s, 2)) for q, s in latencies]}")
