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
    sim.auto_reply("34", "600111201", text="Thanks!", delay=1.0)

    result = run_dag("wapiflow_post_etl_notifications.py")

    assert result.succeeded, result.task_states
    upsert = result.xcoms["upsert_contacts"]
    assert (upsert["created"], upsert["updated"], upsert["unchanged"]) == (3, 1, 1)
    ana = sim.get_contact("34", "600111201")
    assert ana is not None
    assert ana["address"]["city"] == "Madrid"
    assert ana["address"]["post_code"] == "45001"  # kept: the ETL rows do not carry post codes
    send = result.xcoms["send_order_shipped"]
    assert (send["sent"], send["failed_count"], send["unknown_count"]) == (5, 0, 0)
    order_shipped = next(t["id"] for t in sim.templates() if t["name"] == "order_shipped")
    sent = sim.messages(direction="sent", template_id=order_shipped)
    assert Counter(str(m["mobile"]) for m in sent) == Counter(
        ["600111201", "600111202", "5512345603", "15123456704", "612345605"]
    )
    assert sorted(m["body_variables"][1] for m in sent) == ["A-1001", "A-1002", "A-1003", "A-1004", "A-1005"]
    conversation = result.xcoms["wait_for_reply"]
    assert conversation["contact"]["mobile"] in ("600111201", 600111201)
    closed = next(c for c in sim.conversations() if c["id"] == conversation["id"])
    assert closed["status"] == ConversationStatus.DONE
    assert result.task_states["close_conversation"] == "success"


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: p.stem)
def test_every_example_dag_is_covered_by_a_run(path: Path) -> None:
    covered = {"wapiflow_post_etl_notifications"}
    assert path.stem in covered | set(_RUNNERS), f"add a dag.test() run for {path.name}"


_RUNNERS: dict[str, Callable[..., None]] = {}
