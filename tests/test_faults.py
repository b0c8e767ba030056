"""
The fault run: 2,000 contacts upserted and 2,000 templates sent through a real DAG run with task retries,
against a simulator that fails a fifth of all requests. Nothing may be lost, nothing duplicated.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from dag_runs import DagRunResult
from faults_support import latest_run_id, run_xcoms

from airflow_provider_wapiflow.models import mask_phone
from airflow_provider_wapiflow.testing import WapiFlowSimulator

RunDag = Callable[..., "DagRunResult"]

DAG_ID = "faults_upsert_and_send"
ROWS = 2000
PAGE_SIZE = 500  # the upsert DAG's page_size
OPTIONALS = ("city", "state", "post_code", "address")
#: The upsert's closing log line of each try.
UPSERT_TRY = re.compile(r"created (\d+), updated (\d+), unchanged \d+, skipped \d+, failed (\d+);")
#: The send's error when a try fails: failed, unknown (so far), sent, skipped.
SEND_FAILED_TRY = re.compile(
    r"(\d+) recipients failed and (\d+) have an unknown outcome, .* allows \((\d+) sent, (\d+) skipped\)"
)
#: The send's read-back line of each try: unknown outcomes read back, and how many proved sent.
READ_BACK = re.compile(r"Read-back of (\d+) unknown outcomes: (\d+) proven sent")
CITIES = ("Madrid", "Sevilla", "Bilbao", "Valencia", "")

#: (kind, marginal rate, options): the issue's fault mix, on every route. The 5xx are split between
#: answers after the server processed the request and answers instead of processing it, because a
#: client cannot tell them apart; 503 means "not processed" (WapiFlow's maintenance, a stopped pod).
FAULT_MIX: list[tuple[str, float, dict[str, Any]]] = [
    ("error", 0.025, {"status": 500, "process": True}),
    ("html", 0.025, {"status": 502, "process": False}),
    ("html", 0.025, {"status": 504, "process": True}),
    ("error", 0.025, {"status": 503, "process": False}),
    ("error", 0.05, {"status": 429, "retry_after": 0.05}),
    ("drop", 0.03, {"process": False}),
    ("drop", 0.02, {"process": True}),
]


#: Every kind of send answer in the random mix (``sim.inject_send_outcome``):
#: (kind, how many sends, whether Meta delivered where either is possible).
SEND_OUTCOME_MIX: list[tuple[str, int, bool | None]] = [
    ("curl_7", 40, None),  # not sent
    ("meta_rejection", 30, None),  # not sent
    ("curl_28", 25, True),  # unknown: Meta delivered, WapiFlow gave up
    ("curl_28", 25, False),
    ("curl_52", 20, True),
    ("message_sending_failed", 20, False),
    ("undefined_array_key", 20, True),
    ("php_500", 20, False),
    ("messages_insert_sql", 20, None),  # sent, nothing stored
    ("conversation_update_sql", 20, None),  # sent, stored
]


def inject_send_outcomes(sim: WapiFlowSimulator, seed: int = 9) -> str:
    """Add every kind of send answer at random places of the batch; returns which mix ran."""
    rng = random.Random(seed)
    for kind, count, delivered in SEND_OUTCOME_MIX:
        sim.inject_send_outcome(kind, delivered=delivered, times=count, after=rng.randrange(0, ROWS))
    return "every kind of send answer"


def inject_fault_mix(sim: WapiFlowSimulator) -> None:
    """
    Inject ``FAULT_MIX`` so that each rule fires on its marginal rate of all requests.

    The simulator checks rules in order and the first that fires wins, so each rule's probability is
    conditional on the earlier ones not firing.
    """
    taken = 0.0
    for kind, rate, options in FAULT_MIX:
        sim.inject(kind, probability=rate / (1.0 - taken), **options)
        taken += rate


def mobile(i: int) -> str:
    return f"6002{i:05d}"


def contact_rows() -> list[dict[str, Any]]:
    """2,000 rows, phones given both ways, optional fields partly set."""
    rows: list[dict[str, Any]] = []
    for i in range(ROWS):
        row: dict[str, Any] = {"firstname": f"Name{i}", "lastname": f"Family{i % 97}"}
        if i % 2:
            row["phone"] = f"+34{mobile(i)}"
        else:
            row.update(mobile_code="34", mobile=mobile(i))
        row["city"] = CITIES[i % len(CITIES)]
        if i % 3 == 0:
            row["post_code"] = f"{28000 + i % 1000:05d}"
        if i % 7 == 0:
            row.update(state="Madrid", address=f"Calle {i}")
        rows.append(row)
    return rows


def expected_contact(row: dict[str, Any]) -> dict[str, str]:
    return {
        "firstname": row["firstname"],
        "lastname": row["lastname"],
        "mobile_code": "34",
        "mobile": mobile(int(row["firstname"][4:])),
        **{name: row.get(name, "") for name in OPTIONALS},
    }


def stored_contact(contact: dict[str, Any]) -> dict[str, str]:
    return {
        "firstname": contact["firstname"],
        "lastname": contact["lastname"],
        "mobile_code": str(contact["mobile_code"]),
        "mobile": str(contact["mobile"]),
        **{name: contact["address"][name] for name in OPTIONALS},
    }


def seed_existing(sim: WapiFlowSimulator, rows: list[dict[str, Any]]) -> int:
    """
    Some contacts already exist: every 10th row, half of them as the row says (unchanged), half with an
    old city and last name (to be updated). Returns how many updates the upsert needs.
    """
    updates = 0
    for i in range(0, ROWS, 10):
        wanted = expected_contact(rows[i])
        stale = i % 20 == 0
        updates += stale
        sim.add_contact(
            wanted["firstname"],
            "Old" if stale else wanted["lastname"],
            "34",
            wanted["mobile"],
            city="Toledo" if stale else wanted["city"],
            state=wanted["state"],
            post_code=wanted["post_code"],
            address=wanted["address"],
        )
    return updates


def recipients_for(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"phone": f"+34{mobile(i)}", "body_variables": [row["firstname"], f"A-{i}"]} for i, row in enumerate(rows)]


@pytest.mark.wapiflow_simulator(seed=9)
def test_upsert_and_send_under_faults_lose_and_duplicate_nothing(
    run_dag: RunDag,
    wapiflow_simulator: WapiFlowSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    sim = wapiflow_simulator
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAPIFLOW_DEFAULT",
        sim.connection_json(max_retries=3, backoff_base=0.01, backoff_max=0.05, max_retry_after=1),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_WAPIFLOW_FAULTS_SEND",
        sim.connection_json(max_retries=0, backoff_base=0.01, backoff_max=0.05, max_retry_after=1),
    )
    rows = contact_rows()
    updates = seed_existing(sim, rows)
    existing = len(sim.contacts())
    recipients = recipients_for(rows)
    template_id = next(t["id"] for t in sim.templates() if t["name"] == "order_shipped")
    sim.clear_requests()
    inject_fault_mix(sim)
    send_mix = inject_send_outcomes(sim)

    capfd.readouterr()
    result = run_dag("faults_dags.py", DAG_ID, run_conf={"contacts": rows, "recipients": recipients})
    output = capfd.readouterr().out
    upsert_tries = UPSERT_TRY.findall(output)
    send_tries = [tuple(map(int, t)) for t in SEND_FAILED_TRY.findall(output)]
    read_backs = [tuple(map(int, t)) for t in READ_BACK.findall(output)]

    requests = sim.requests()
    sim.clear_faults()
    xcoms = run_xcoms(DAG_ID, latest_run_id(DAG_ID))
    contacts = sim.contacts()
    sent = sim.messages(direction="sent")

    # --- the upsert: the simulator's contacts are the input, exactly -------------------------------
    assert result.task_states["upsert"] == "success", result
    upsert = xcoms[("upsert", "return_value")]
    assert upsert["failed_count"] == 0
    assert len(contacts) == ROWS
    by_mobile = {str(c["mobile"]): stored_contact(c) for c in contacts}
    assert len(by_mobile) == ROWS  # no duplicate
    assert by_mobile == {mobile(i): expected_contact(row) for i, row in enumerate(rows)}

    # --- the send: nobody twice, everybody accounted for ------------------------------------------
    per_mobile = Counter((str(m["mobile"]), m["template_id"]) for m in sent)
    assert max(per_mobile.values()) == 1, [k for k, n in per_mobile.items() if n > 1]
    # what reached the phones, stored by WapiFlow or not (Meta may deliver what WapiFlow failed to store)
    twice = {e164: n for e164, n in sim.delivery_counts().items() if n > 1}
    assert not twice, twice
    assert all(m["template_id"] == template_id for m in sent)
    assert result.task_states["send"] == "success", result
    summary = xcoms[("send", "return_value")]

    # positions count from 1; mobile() takes the 0-based row index
    failed = {entry["position"] - 1 for entry in summary["failed"]}
    unknown = {entry["position"] - 1 for entry in summary["unknown"]}
    assert len(failed) == summary["failed_count"]  # the lists are not capped at this size
    assert len(unknown) == summary["unknown_count"]
    assert not failed & unknown
    delivered = set(range(ROWS)) - failed - unknown
    assert summary["sent"] + summary["skipped"] == len(delivered)
    assert summary["sent"] + summary["skipped"] + summary["failed_count"] + summary["unknown_count"] == ROWS
    received = {str(d["mobile"]) for d in sim.deliveries()}
    assert {mobile(p) for p in delivered} <= received  # every delivered one received it (once, see above)
    assert not {mobile(p) for p in failed} & received  # "failed" means nothing went out
    # an unknown recipient received it once (the answer was lost) or not at all; never more
    assert received <= {mobile(p) for p in delivered | unknown}
    for entry in summary["unknown"]:
        assert entry["recipient"] == mask_phone(f"+34{mobile(entry['position'] - 1)}")

    # --- figures ----------------------------------------------------------------------------------
    pages = max(1, -(-existing // PAGE_SIZE))
    minimum = pages + (ROWS - existing) + updates + 1 + ROWS  # list pages, creates, updates, template page, sends
    fired = Counter(fault_name(r) for r in requests if r["fault"])
    unknown_received = len({mobile(p) for p in unknown} & received)
    with capfd.disabled():
        print(
            f"\nfault run: {len(requests)} requests for a minimum of {minimum}, so {len(requests) - minimum} "
            f"retries; faults fired: {dict(sorted(fired.items()))}\n"
            f"  upsert: {result.tries['upsert']} tries; created, updated, failed per try: {upsert_tries}\n"
            f"  send: {result.tries['send']} tries; failed, unknown (so far), sent, skipped per failed try: "
            f"{send_tries}; last try: sent {summary['sent']}, skipped {summary['skipped']}, failed "
            f"{summary['failed_count']}, unknowns {summary['unknown_count']} ({unknown_received} of them did go "
            f"out once, {summary['unknown_count'] - unknown_received} did not)\n"
            f"  send answers mixed in: {send_mix}; read-back per try (unknowns read, proven sent): {read_backs}, "
            f"{sum(n for _, n in read_backs)} unknowns resolved in all"
        )
    assert len(requests) > minimum  # the faults did fire and were retried
    assert len(upsert_tries) == result.tries["upsert"] > 1  # a try failed on lost answers, a later one finished
    assert upsert_tries[-1][2] == "0"
    # The not-sent ones of try 1 went out in a later try. A try can also fail before its first send (a
    # lost answer to the template lookup, on a connection without hook retries): it sends nothing.
    assert 1 <= len(send_tries) <= result.tries["send"] - 1
    assert sum(sent for _, _, sent, _ in send_tries) + summary["sent"] == len(delivered)
    assert set(fired) == {"500 after processing", "502 instead", "503 instead", "504 after processing", "429",
                          "dropped before processing", "dropped after processing"}  # fmt: skip


def fault_name(request: dict[str, Any]) -> str:
    if request["fault"] == "drop":
        return "dropped after processing" if request["processed"] else "dropped before processing"
    if request["status"] == 429:
        return "429"
    return f"{request['status']} {'after processing' if request['processed'] else 'instead'}"
