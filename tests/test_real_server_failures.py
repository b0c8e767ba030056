"""
What the real WapiFlow server does wrong (docs/server-bugs.rst), each through a real DAG run: a Meta outage in
the middle of a send, recipients that are not contacts, and the error WapiFlow answers every template send with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from dag_runs import DagRunResult

from airflow_provider_wapiflow.models import mask_phone
from airflow_provider_wapiflow.testing import WapiFlowSimulator

RunDag = Callable[..., "DagRunResult"]

DAGS = "faults_dags.py"
NOT_A_CONTACT = (
    "not a WapiFlow contact, so nothing was sent: add 'firstname' and 'lastname' to the recipient so the "
    "operator can create the contact, or upsert contacts first (UpsertContactsOperator)"
)


def mobile(i: int) -> str:
    return f"6003{i:05d}"


def seed(sim: WapiFlowSimulator, count: int) -> list[dict[str, Any]]:
    """``count`` contacts, and the recipients list that sends them ``order_shipped``."""
    for i in range(count):
        sim.add_contact(f"Name{i}", "Family", "34", mobile(i))
    return [{"phone": f"+34{mobile(i)}", "body_variables": [f"Name{i}", f"A-{i}"]} for i in range(count)]


def received(sim: WapiFlowSimulator) -> Counter[str]:
    return Counter(str(m["mobile"]) for m in sim.messages(direction="sent"))


def template_answers(sim: WapiFlowSimulator) -> list[str | None]:
    """What WapiFlow answered each send-template-message with (its ``remark``), in order."""
    return [r["remark"] for r in sim.requests() if r["path"] == "inbox/send-template-message"]


def test_meta_outage_for_part_of_a_send_is_delivered_by_the_next_try(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim = wapiflow_connection
    recipients = seed(sim, 12)
    sim.meta_outage_for(4, after=3)  # sends 4 to 7 of the first try find Meta unreachable

    result = run_dag(DAGS, "faults_send_strict", run_conf={"recipients": recipients})
    logs = debug_logs()

    assert result.succeeded, result
    assert result.tries["send"] == 2
    summary = result.xcoms["send"]
    assert (summary["sent"], summary["skipped"]) == (4, 8)  # try 2 sends only what try 1 did not deliver
    assert (summary["failed"], summary["unknown"]) == ([], [])
    assert received(sim) == Counter({mobile(i): 1 for i in range(12)})
    assert template_answers(sim).count("exception") == 16  # 12 delivered + 4 Meta errors, nothing more
    # try 1 reported the 4 as failed (nothing sent), with WapiFlow's reason and without its Meta token
    assert "4 recipients failed and 0 have an unknown outcome, more than max_failures=0 allows (8 sent" in logs
    assert "could not reach Meta's WhatsApp API, nothing was sent: cURL error 6" in logs
    assert "access_token=***" in logs
    assert sim.meta_access_token not in logs


def test_recipients_that_are_not_contacts_are_created_when_named_and_fail_clearly_otherwise(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator
) -> None:
    sim = wapiflow_connection
    recipients: list[dict[str, Any]] = seed(sim, 2)
    recipients += [
        {"phone": f"+34{mobile(10)}", "firstname": "Nueva", "lastname": "Clienta", "city": "Cádiz",
         "body_variables": ["Nueva", "A-10"]},
        {"phone": f"+34{mobile(11)}", "firstname": "Otro", "lastname": "Cliente", "body_variables": ["Otro", "A-11"]},
        {"phone": f"+34{mobile(12)}", "body_variables": ["Sin", "A-12"]},
    ]  # fmt: skip

    result = run_dag(DAGS, "faults_send_tolerant", run_conf={"recipients": recipients})

    assert result.succeeded, result
    summary = result.xcoms["send"]
    assert (summary["sent"], summary["failed_count"], summary["unknown_count"]) == (4, 1, 0)
    assert summary["failed"] == [{"position": 5, "recipient": mask_phone(f"+34{mobile(12)}"), "error": NOT_A_CONTACT}]
    created = sim.get_contact("34", mobile(10))
    assert created is not None
    assert (created["firstname"], created["lastname"], created["address"]["city"]) == ("Nueva", "Clienta", "Cádiz")
    assert sim.get_contact("34", mobile(11)) is not None
    assert sim.get_contact("34", mobile(12)) is None  # not created without a name
    assert received(sim) == Counter({mobile(i): 1 for i in (0, 1, 10, 11)})
    # the real server refused the first send to each new number before sending anything (bug-not-a-contact)
    stores = [r for r in sim.requests() if r["path"] == "contact/store"]
    assert len(stores) == 2


def test_the_post_send_exception_on_every_template_send_counts_as_sent(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim = wapiflow_connection
    recipients = seed(sim, 20)

    result = run_dag(DAGS, "faults_send_strict", run_conf={"recipients": recipients})
    logs = debug_logs()

    assert result.succeeded, result
    assert result.tries["send"] == 1
    summary = result.xcoms["send"]
    assert (summary["sent"], summary["failed"], summary["unknown"]) == (20, [], [])
    assert summary["conversation_ids"] == []  # WapiFlow's answer does not carry it
    assert template_answers(sim) == ["exception"] * 20  # every answer was the post-send error…
    assert received(sim) == Counter({mobile(i): 1 for i in range(20)})  # …and every message went out once
    assert logs.count("answers successful template sends with its known post-send error") == 1
