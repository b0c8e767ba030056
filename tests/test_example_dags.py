"""Every example DAG runs for real (dag.test()) against the simulator, as the docs show it."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from dag_runs import EXAMPLE_DAGS, DagRunResult

from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.testing import WapiFlowSimulator

RunDag = Callable[..., DagRunResult]


def _example_files() -> list[Path]:
    return sorted(p for p in EXAMPLE_DAGS.glob("*.py") if not p.name.startswith("_"))


def test_example_dags_parse_without_network_or_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}
    assert {p.stem for p in _example_files()} <= {d.fileloc and Path(d.fileloc).stem for d in bag.dags.values()}
    for path in _example_files():
        assert "[START" in path.read_text() or path.name.startswith("example_"), f"{path.name} is not in the docs"
        ast.parse(path.read_text())


def test_post_etl_example_end_to_end(run_dag: RunDag, wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.add_contact("On-call", "Engineer", "34", "699000111")
    sim.add_contact("Ana", "Ruiz", "34", "600111201", city="Toledo", post_code="45001")
    sim.add_contact("Eva", "Gil", "34", "600111202", city="Sevilla")
    # The reply must land in a later whole second than the send finished (WapiFlow keeps seconds).
    sim.auto_reply("34", "600111201", text="Thanks!", delay=2.5)

    result = run_dag("wapiflow_post_etl_notifications.py")

    assert result.succeeded, result.task_states
    upsert = result.xcoms["upsert_contacts"]
    assert (upsert["created"], upsert["updated"], upsert["unchanged"]) == (3, 1, 1)
    ana = sim.get_contact("34", "600111201")
    assert ana is not None
    assert ana["address"]["city"] == "Madrid"
    assert ana["address"]["post_code"] == "45001"  # kept: the ETL rows do not carry post codes
    batches = [v for k, v in result.xcoms.items() if k.startswith("send_order_shipped[")]
    assert len(batches) == 3  # mapped over batch_recipients(..., size=2)
    totals = [sum(b[key] for b in batches) for key in ("sent", "failed_count", "unknown_count", "duplicates_dropped")]
    assert totals == [5, 0, 0, 0]
    order_shipped = next(t["id"] for t in sim.templates() if t["name"] == "order_shipped")
    sent = sim.messages(direction="sent", template_id=order_shipped)
    assert Counter(str(m["mobile"]) for m in sent) == Counter(
        ["600111201", "600111202", "5512345603", "15123456704", "612345605"]
    )
    assert sorted(m["body_variables"][1] for m in sent) == ["A-1001", "A-1002", "A-1003", "A-1004", "A-1005"]
    conversation = result.xcoms["wait_for_reply"]
    assert conversation["phone"] == "+********201"  # the sensor's XCom is masked
    assert conversation["whatsapp_account_id"] != 0  # the conversation where the reply arrived
    closed = next(c for c in sim.conversations() if c["id"] == conversation["id"])
    assert closed["status"] == ConversationStatus.DONE
    assert result.task_states["close_conversation"] == "success"


def _run_send_message(run_dag: RunDag, sim: WapiFlowSimulator) -> None:
    result = run_dag("wapiflow_send_message.py")
    assert result.succeeded, result.task_states
    summary = result.xcoms["send_invoice"]
    assert (summary["sent"], summary["failed_count"], summary["unknown_count"]) == (2, 1, 0)
    assert "not a WapiFlow contact" in summary["failed"][0]["error"]
    sent = sim.messages(direction="sent")
    assert sorted(str(m["mobile"]) for m in sent) == ["600111301", "600111302"]
    assert {m["media_filename"] for m in sent} == {"invoice-2026-10.pdf"}


def _run_failure_alert(run_dag: RunDag, sim: WapiFlowSimulator) -> None:
    sim.add_contact("On-call", "Engineer", "34", "699000111")
    # The simulator seeds the template the example uses, as users get it with the CLI.
    template = next(t for t in sim.templates() if t["name"] == "airflow_task_failed")
    assert run_dag("wapiflow_failure_alert.py").succeeded
    assert sim.messages(direction="sent") == []
    failed = run_dag("wapiflow_failure_alert.py", run_conf={"fail": True})
    assert failed.state == "failed"
    (alert,) = sim.messages(direction="sent", template_id=template["id"])
    assert alert["mobile"] in ("699000111", 699000111)
    assert alert["body_variables"][:3] == ["load_orders", "wapiflow_failure_alert", "1"]


def _run_wait_for_done(run_dag: RunDag, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", "34", "600111201")
    # Already done: the reschedule path itself is covered with short intervals in test_sensor_conversations.
    conversation = sim.add_conversation("34", "600111201", status=int(ConversationStatus.DONE))
    result = run_dag("wapiflow_wait_for_done.py", run_conf={"conversation_id": conversation["id"], "ticket": "T-7"})
    assert result.succeeded, result.task_states
    assert result.xcoms["close_ticket"] == {"ticket": "T-7", "conversation_id": conversation["id"], "status": 1}


def _run_customer_replies(run_dag: RunDag, sim: WapiFlowSimulator) -> None:
    # Under dag.test() no watcher runs, so there are no triggering events: nothing to flag. The
    # event-driven path runs under a real triggerer in tests/e2e/test_e2e_events.py.
    sim.add_contact("Ana", "Ruiz", "34", "600111201")
    sim.simulate_reply("34", "600111201", "Hello")
    result = run_dag("wapiflow_customer_replies.py")
    assert result.succeeded, result.task_states
    assert result.xcoms["replied_conversations"] == []
    assert [c["status"] for c in sim.conversations()] == [0]


def _run_batched_send(run_dag: RunDag, sim: WapiFlowSimulator) -> None:
    sim.bulk_seed_contacts(25, "34", 600000001)
    sim.auto_reply("34", "600000001", text="Thanks!", delay=2.5)
    result = run_dag("wapiflow_batched_send.py", run_conf={"customers": 25, "batch_size": 10})
    assert result.succeeded, result.task_states
    batches = [result.xcoms[f"send_batch[{i}]"] for i in range(3)]
    assert [b["recipients"] for b in batches] == [10, 10, 5]
    assert result.xcoms["report"]["sent"] == 25
    assert result.xcoms["report"]["batches"] == 3
    sent = sim.messages(direction="sent")
    assert sorted(int(m["mobile"]) for m in sent) == list(range(600000001, 600000026))
    assert sorted(m["body_variables"][1] for m in sent) == [f"B-{i:05d}" for i in range(1, 26)]
    assert result.task_states["wait_for_reply"] == "success"


_RUNNERS: dict[str, Callable[[RunDag, WapiFlowSimulator], None]] = {
    "wapiflow_customer_replies": _run_customer_replies,
    "wapiflow_batched_send": _run_batched_send,
    "wapiflow_send_message": _run_send_message,
    "wapiflow_failure_alert": _run_failure_alert,
    "wapiflow_wait_for_done": _run_wait_for_done,
}


def test_every_example_dag_has_a_run() -> None:
    covered = {"wapiflow_post_etl_notifications", *_RUNNERS}
    assert {p.stem for p in _example_files()} == covered


@pytest.mark.parametrize("name", sorted(_RUNNERS))
def test_example_dag_runs_against_the_simulator(
    name: str, run_dag: RunDag, wapiflow_connection: WapiFlowSimulator
) -> None:
    _RUNNERS[name](run_dag, wapiflow_connection)
