"""
The bulk engine against the simulator: batching, once_per, unretryable errors, empty input, clear and
mark-success, 429 storms, read-back of unknown outcomes, summaries and progress lines.

Every DAG-level case counts what reached each phone in the simulator's message log.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pendulum
import pytest
from dag_runs import DagRunResult
from support import MemoryTaskStateStore, context_without_task_state_store, pushed_xcoms, task_context
from support.customers import seed_customers, sent_per_mobile

from airflow_provider_wapiflow.batching import batch_recipients
from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.operators._arguments import AirflowProviderDeprecationWarning
from airflow_provider_wapiflow.operators._bulk import Throttle
from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator
from airflow_provider_wapiflow.operators.messages import SendMessageOperator, SendTemplateOperator
from airflow_provider_wapiflow.testing import WapiFlowSimulator

RunDag = Callable[..., DagRunResult]


# --- 15.1 batch_recipients ------------------------------------------------------------------------


def test_batch_recipients_puts_every_phone_in_exactly_one_batch_deterministically() -> None:
    recipients: list[Any] = [
        "+34600111001",
        {"phone": "+34 600 111 002", "ref": "c-2"},
        {"mobile_code": "34", "mobile": "600111001"},  # the first phone again, other spelling
        "not a phone",
        "+34600111003",
        "+34600111002",
        "+34600111001",
    ]
    batches = batch_recipients(recipients, 2)
    assert batches == batch_recipients(recipients, 2), "the same input must give the same batches"
    flat = [entry for batch in batches for entry in batch]
    assert [len(b) for b in batches] == [2, 2]
    assert [e["input_position"] for e in flat] == [1, 2, 4, 5]
    assert flat[0] == {"phone": "+34600111001", "input_position": 1, "duplicates_dropped": 2}
    assert flat[1] == {"phone": "+34 600 111 002", "ref": "c-2", "input_position": 2, "duplicates_dropped": 1}
    assert flat[2]["phone"] == "not a phone", "an invalid entry is kept, so the operator reports it"
    with pytest.raises(WapiFlowInputError, match="'size' must be a positive integer"):
        batch_recipients(recipients, 0)


def test_batched_mapped_send_messages_every_phone_once_and_counts_duplicates(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator
) -> None:
    sim = wapiflow_connection
    recipients = seed_customers(sim, 7, first=600300001)
    # Repeats that a naive slicing would put in other batches (other mapped instances).
    recipients += [recipients[0], {**recipients[3], "phone": recipients[3]["phone"].replace("+34", "+34 ")}]
    result = run_dag("messages_send.py", "messages_send_batched", run_conf={"recipients": recipients, "size": 3})
    assert result.succeeded, result.task_states
    summaries = [v for k, v in result.xcoms.items() if k.startswith("send[")]
    assert len(summaries) == 3
    assert sum(s["sent"] for s in summaries) == 7
    assert sum(s["duplicates_dropped"] for s in summaries) == 2
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 1 for r in recipients[:7]})


def test_positions_count_in_the_whole_input_when_batched(wapiflow_connection: WapiFlowSimulator) -> None:
    recipients = seed_customers(wapiflow_connection, 3, first=600300001)
    batch = batch_recipients([*recipients, {"phone": "+34123"}], size=10)[0]
    operator = SendTemplateOperator(task_id="t", template="order_shipped", recipients=batch[2:], max_failures=1)
    summary = operator.execute(task_context())
    assert summary["failed"][0]["position"] == 4


# --- 15.2 once_per across runs and mapped instances -----------------------------------------------


def test_once_per_skips_what_another_run_sent_under_the_same_key(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator
) -> None:
    sim = wapiflow_connection
    recipients = seed_customers(sim, 4, first=600300001)
    first = run_dag("messages_send.py", "messages_send_once_per", run_conf={"recipients": recipients, "campaign": "d1"})
    assert first.succeeded
    assert first.xcoms["send"]["sent"] == 4
    # A manual run next to the scheduled one, same key: nobody twice.
    second = run_dag(
        "messages_send.py", "messages_send_once_per", run_conf={"recipients": recipients, "campaign": "d1"}
    )
    assert second.succeeded
    assert second.xcoms["send"]["sent"] == 0
    assert second.xcoms["send"]["skipped_once_per"] == 4
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 1 for r in recipients})
    # Another key is another campaign: sent again.
    third = run_dag("messages_send.py", "messages_send_once_per", run_conf={"recipients": recipients, "campaign": "d2"})
    assert third.xcoms["send"]["sent"] == 4
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 2 for r in recipients})


def test_once_per_holds_across_mapped_instances(run_dag: RunDag, wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    recipients = seed_customers(sim, 6, first=600300101)
    result = run_dag(
        "messages_send.py", "messages_send_once_per_mapped", run_conf={"recipients": recipients, "campaign": "c-7"}
    )
    assert result.succeeded, result.task_states
    summaries = [result.xcoms["send[0]"], result.xcoms["send[1]"]]
    assert sum(s["sent"] for s in summaries) == 6
    assert sum(s["skipped_once_per"] for s in summaries) == 2  # the two phones both batches hold
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 1 for r in recipients})


# --- 15.4 errors no retry can fix ----------------------------------------------------------------


def test_an_unknown_template_fails_once_without_using_the_retries(
    run_dag: RunDag, wapiflow_connection: WapiFlowSimulator
) -> None:
    recipients = [r["phone"] for r in seed_customers(wapiflow_connection, 2, first=600300201)]
    result = run_dag(
        "messages_send.py", "messages_send_unretryable", run_conf={"recipients": recipients, "template": "nope"}
    )
    assert result.task_states["send"] == "failed"
    assert result.tries["send"] == 1, "retries=2, but no retry can make an unknown template exist"
    assert wapiflow_connection.messages(direction="sent") == []


def test_unretryable_errors_keep_their_wapiflow_type(wapiflow_connection: WapiFlowSimulator) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    wapiflow_connection.user_active = False  # wrong credentials
    operator = SendMessageOperator(task_id="t", message="hi", recipients=["+34600111222"])
    with pytest.raises(AirflowFailException) as caught:
        operator.execute(task_context())
    from airflow_provider_wapiflow.exceptions import WapiFlowAuthError

    assert isinstance(caught.value, WapiFlowAuthError)
    assert isinstance(caught.value.__cause__, WapiFlowAuthError)


# --- 15.5 empty input -----------------------------------------------------------------------------


def test_an_empty_recipient_list_is_a_success_with_a_zero_summary(wapiflow_connection: WapiFlowSimulator) -> None:
    summary = SendTemplateOperator(task_id="t", template="order_shipped", recipients=[]).execute(task_context())
    assert (summary["recipients"], summary["sent"], summary["failed_count"], summary["unknown_count"]) == (0, 0, 0, 0)
    assert summary["delivered_at"] == {}
    assert summary["first_delivered_at"] is None
    assert wapiflow_connection.request_count() == 0
    with pytest.raises(WapiFlowInputError, match="fail_on_empty=True"):
        SendTemplateOperator(task_id="t", template="x", recipients=[], fail_on_empty=True).execute(task_context())


# --- 15.10 max_failures count vs rate ------------------------------------------------------------


def test_max_failures_is_a_count_and_a_float_is_a_deprecated_rate(wapiflow_connection: WapiFlowSimulator) -> None:
    operator = SendMessageOperator(task_id="t", message="hi", recipients=["+34600111222"], max_failures=1)
    assert (operator.max_failures, operator.max_failure_rate) == (1, None)
    with pytest.warns(AirflowProviderDeprecationWarning, match="max_failure_rate"):
        old = SendMessageOperator(task_id="t", message="hi", recipients=["+34600111222"], max_failures=1.0)
    assert (old.max_failures, old.max_failure_rate) == (0, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rate = SendMessageOperator(task_id="t", message="hi", recipients=["+1"], max_failure_rate=0.5)
    assert rate.max_failure_rate == 0.5
    # four invalid of eight: a rate of 0.5 lets the others go out, a count of 1 does not
    recipients = [*(r["phone"] for r in seed_customers(wapiflow_connection, 4, first=600300301)), *["bad"] * 4]
    summary = SendMessageOperator(task_id="t", message="hi", recipients=recipients, max_failure_rate=0.5).execute(
        task_context()
    )
    assert summary["sent"] == 4
    with pytest.raises(WapiFlowInputError, match="max_failures=1"):
        SendMessageOperator(task_id="t", message="hi", recipients=recipients, max_failures=1).execute(task_context())


# --- 16 no ledger on a later try -----------------------------------------------------------------


def test_a_later_try_without_a_ledger_refuses_unless_the_user_accepts_the_risk(
    wapiflow_connection: WapiFlowSimulator,
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    phone = seed_customers(wapiflow_connection, 1, first=600300401)[0]["phone"]
    first = SendMessageOperator(task_id="t", message="hi", recipients=[phone]).execute(
        context_without_task_state_store()
    )
    assert first["sent"] == 1  # the first try runs (with a warning)
    wapiflow_connection.clear_requests()
    with pytest.raises(AirflowFailException, match=r"Airflow 3\.\d+\.\d+ has no task state store.*allow_resend"):
        SendTemplateOperator(task_id="t", template="order_shipped", recipients=[phone]).execute(
            context_without_task_state_store(try_number=2)
        )
    assert wapiflow_connection.request_count() == 0, "refused before any request"
    assert sent_per_mobile(wapiflow_connection)[phone[3:]] == 1
    accepted = SendMessageOperator(task_id="t", message="hi", recipients=[phone], allow_resend_without_ledger=True)
    assert accepted.execute(context_without_task_state_store(try_number=2))["sent"] == 1


# --- 3-part: delivered_at from the ledger --------------------------------------------------------


def test_delivered_at_is_the_first_tries_delivery_and_a_retry_never_moves_it(
    wapiflow_connection: WapiFlowSimulator,
) -> None:
    sim = wapiflow_connection
    recipients = [*seed_customers(sim, 2, first=600300501), {"phone": "+34600300503", "body_variables": ["C", "A-3"]}]
    store = MemoryTaskStateStore()
    first = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients, max_failures=1)
    one = first.execute(task_context(store, try_number=1))  # the third is not a contact yet: not sent
    assert one["sent"] == 2
    assert len(one["delivered_at"]) == 2
    sim.add_contact("C", "Family", "34", "600300503")
    time.sleep(1.1)
    two = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients).execute(
        task_context(store, try_number=2)
    )
    assert two["sent"] == 1
    assert two["skipped"] == 2
    assert len(two["delivered_at"]) == 3
    for digest, at in one["delivered_at"].items():
        assert two["delivered_at"][digest] == at, "a retry must not move the first delivery's time"
    assert two["first_delivered_at"] == one["first_delivered_at"] == min(one["delivered_at"].values())


# --- 15.8 progress lines --------------------------------------------------------------------------


def test_progress_lines_count_what_happened(
    wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim = wapiflow_connection
    phones = [r["phone"] for r in seed_customers(sim, 3, first=600300601)] + ["+34600300604", "+34600300605"]
    SendMessageOperator(task_id="t", message="hi", recipients=phones, max_failures=2, concurrency=1).execute(
        task_context()
    )  # the last two are not contacts: not sent
    logs = debug_logs()
    assert "processed 5/5 (100%): 3 sent, 2 failed, 0 unknown" in logs
    assert "sent 5/5" not in logs
    rows = [{"firstname": "A", "lastname": "B", "phone": f"+34{600300701 + i}"} for i in range(3)]
    UpsertContactsOperator(task_id="u", contacts=rows).execute(task_context())
    assert "processed 3/3 (100%): 3 written, 0 failed, 0 unknown" in debug_logs()


# --- 12.6 read-back of unknown outcomes -----------------------------------------------------------


def test_read_back_resolves_unknowns_the_conversation_list_proves_sent(
    wapiflow_connection: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim = wapiflow_connection
    recipients = seed_customers(sim, 4, first=600300801)
    # The customer of recipient 3 wrote first: its oldest conversation is the account's, which a
    # reply moves as well as our send, so it can prove nothing.
    sim.simulate_reply("34", recipients[3]["phone"][3:], "hola")
    sim.inject("drop", process=True, times=1, path="inbox/send-template-message")  # stored, answer lost
    sim.inject("drop", process=False, times=1, path="inbox/send-template-message")  # maybe sent: not stored
    store = MemoryTaskStateStore()
    operator = SendTemplateOperator(
        task_id="t", template="order_shipped", recipients=recipients[:3], max_failures=3, concurrency=1
    )
    sim.clear_requests()
    summary = operator.execute(task_context(store, try_number=1))
    assert summary["unknown_resolved"] == 1
    assert (summary["sent"], summary["unknown_count"]) == (2, 1)
    reads = sim.request_count(method="GET", path_prefix="inbox/conversation-list")
    assert reads == 2, "one read per unknown recipient, no more"
    assert "1 proven sent (recorded as delivered)" in debug_logs()
    # The next try skips the resolved one (the ledger says delivered) and does not resend the unknown.
    again = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients[:3], max_failures=3)
    two = again.execute(task_context(store, try_number=2))
    assert (two["skipped"], two["sent"], two["unknown_count"]) == (2, 0, 1)
    assert max(sent_per_mobile(sim).values()) == 1

    # Without unknowns there is no read at all; a reply-moved account conversation is no proof.
    sim.inject("drop", process=True, times=1, path="inbox/send-template-message")
    sim.clear_requests()
    last = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients[3:], max_failures=1)
    three = last.execute(task_context())
    assert (three["unknown_resolved"], three["unknown_count"]) == (0, 1)
    clean = SendTemplateOperator(task_id="t", template="order_shipped", recipients=seed_customers(sim, 2, 600300901))
    sim.clear_requests()
    assert clean.execute(task_context())["unknown_resolved"] == 0
    assert sim.request_count(method="GET", path_prefix="inbox/conversation-list") == 0


# --- 12.9 rate-limit storms -----------------------------------------------------------------------


@pytest.fixture
def storm(wapiflow_connection: WapiFlowSimulator) -> Iterator[Callable[[float], None]]:
    """All sends answered 429 (Retry-After 1) for ``seconds``: ``sim.storm`` when the simulator has it."""
    sim = wapiflow_connection
    timers: list[threading.Timer] = []

    def start(seconds: float) -> None:
        if hasattr(sim, "storm"):
            sim.storm(seconds, retry_after=1.0)
            return
        fault = sim.inject("error", status=429, retry_after=1)
        timer = threading.Timer(seconds, sim.remove_fault, [fault])
        timer.start()
        timers.append(timer)

    yield start
    for timer in timers:
        timer.cancel()


def test_a_storm_ends_the_batch_in_bounded_time_and_the_next_try_completes_it(
    wapiflow_connection: WapiFlowSimulator, storm: Callable[[float], None]
) -> None:
    from airflow.sdk.exceptions import AirflowException

    sim = wapiflow_connection
    recipients = seed_customers(sim, 40, first=600301001)
    store = MemoryTaskStateStore()
    operator = SendTemplateOperator(
        task_id="t", template="order_shipped", recipients=recipients, concurrency=8, rate_limit_timeout=3
    )
    storm(8)
    started = time.monotonic()
    context = task_context(store, try_number=1)
    with pytest.raises(AirflowException, match=r"rate_limit_timeout=3s: 40 recipients were not reached") as caught:
        operator.execute(context)
    elapsed = time.monotonic() - started
    assert elapsed < 3 + 10, f"the storm must end the batch within its bound, took {elapsed:.1f}s"
    assert "the next try sends them" in str(caught.value)
    summary = pushed_xcoms(context)["summary"]
    assert (summary["sent"], summary["not_reached"], summary["unknown_count"]) == (0, 40, 0)
    # One shared back-off: requests in flight shrink instead of every sender hammering on its own.
    assert summary["rate_limited"] <= 8 + 4 + 2 + 1 + 3, summary["rate_limited"]
    time.sleep(max(0.0, 8.5 - (time.monotonic() - started)))
    retry = SendTemplateOperator(task_id="t", template="order_shipped", recipients=recipients, rate_limit_timeout=3)
    two = retry.execute(task_context(store, try_number=2))
    assert two["sent"] == 40
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 1 for r in recipients})


def test_the_throttle_shares_one_back_off_and_adds_slots_back() -> None:
    now = [0.0]
    throttle = Throttle(8, timeout=10, clock=lambda: now[0])
    throttle.rate_limited_answer(2.0)
    throttle.rate_limited_answer(2.0)
    assert throttle.limit == 2
    assert not throttle.expired
    now[0] = 10.0
    assert throttle.expired
    throttle.other_answer()
    assert not throttle.expired
    for _ in range(10):
        throttle.other_answer()
    assert throttle.limit > 2


# --- 13.10 a cleared or marked-success send task -------------------------------------------------


def _task_state_rows(dag_id: str, run_id: str) -> int:
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(TaskStateStoreModel)
        return query.filter(TaskStateStoreModel.dag_id == dag_id, TaskStateStoreModel.run_id == run_id).count()


def _dag(dag_id: str) -> Any:
    import runpy

    from dag_runs import TEST_DAGS

    namespace = runpy.run_path(str(TEST_DAGS / "messages_send.py"))
    return next(d for d in namespace.values() if type(d).__name__ == "DAG" and d.dag_id == dag_id)


def _run_clear_and_rerun(sim: WapiFlowSimulator, dag_id: str, recipients: list[dict[str, Any]], day: int) -> Any:
    from engine_support import clear_tasks, run_cleared_tasks

    dag = _dag(dag_id)
    when = pendulum.datetime(2026, 3, day, tz="UTC")
    first = dag.test(run_conf={"recipients": recipients}, logical_date=when, run_after=when)
    assert str(first.state) == "success"
    clear_tasks(dag_id, first.run_id, {"send"})
    return first, run_cleared_tasks(dag, first.run_id)


@pytest.mark.parametrize("clear_on_success", [False, True], ids=["default", "clear_on_success"])
def test_a_cleared_send_task_messages_nobody_again(
    wapiflow_connection: WapiFlowSimulator,
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    clear_on_success: bool,
) -> None:
    sim = wapiflow_connection
    monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", str(clear_on_success))
    recipients = seed_customers(sim, 3, first=600302001 + 10 * clear_on_success)
    first, second = _run_clear_and_rerun(sim, "messages_send_clear", recipients, 1 + clear_on_success)
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 1 for r in recipients})
    if clear_on_success:
        assert _task_state_rows("messages_send_clear", first.run_id) == 0, "Airflow wiped the task state on success"
    assert second.task_states["send"] == "success"
    assert second.tries["send"] == 2
    assert (second.xcoms["send"]["sent"], second.xcoms["send"]["skipped"]) == (0, 3)
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 1 for r in recipients}), "nobody twice"


def test_resend_after_clear_messages_again_when_the_user_asks(
    wapiflow_connection: WapiFlowSimulator, airflow_db: None
) -> None:
    sim = wapiflow_connection
    recipients = seed_customers(sim, 2, first=600302101)
    _, second = _run_clear_and_rerun(sim, "messages_send_clear_resend", recipients, 5)
    assert second.xcoms["send"]["sent"] == 2
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 2 for r in recipients})


def test_a_marked_success_then_cleared_send_task_messages_nobody_again(
    wapiflow_connection: WapiFlowSimulator, airflow_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine_support import clear_tasks, mark_success, run_cleared_tasks

    sim = wapiflow_connection
    monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", "True")
    recipients = [*seed_customers(sim, 2, first=600302201), {"phone": "+34600302203", "body_variables": ["C", "A-3"]}]
    dag = _dag("messages_send_clear")
    when = pendulum.datetime(2026, 3, 9, tz="UTC")
    first = dag.test(run_conf={"recipients": recipients}, logical_date=when, run_after=when)
    assert str(first.state) == "failed"  # the third is not a contact: over max_failures=0
    mark_success(dag.dag_id, first.run_id, "send")  # a user accepts the run as it is
    assert _task_state_rows(dag.dag_id, first.run_id) == 0, "Airflow wiped the task state on mark-success"
    sim.add_contact("C", "Family", "34", "600302203")
    clear_tasks(dag.dag_id, first.run_id, {"send"})
    second = run_cleared_tasks(dag, first.run_id)
    assert (second.xcoms["send"]["sent"], second.xcoms["send"]["skipped"]) == (1, 2)
    assert sent_per_mobile(sim) == Counter({r["phone"][3:]: 1 for r in recipients})


def test_read_back_evidence_is_the_contacts_oldest_api_conversation_moved_after_the_start() -> None:
    from datetime import datetime, timezone

    from airflow_provider_wapiflow.models import Phone
    from airflow_provider_wapiflow.operators._readback import sent_at

    phone = Phone.parse(phone="+34600111222")
    started = datetime(2026, 12, 3, 7, 0, 5, 700000, tzinfo=timezone.utc)

    def conversation(id_: int, code: str, mobile: str, account: int, at: str | None) -> dict[str, Any]:
        return {"id": id_, "whatsapp_account_id": account, "last_message_at": at,
                "contact": {"mobile_code": code, "mobile": mobile}}  # fmt: skip

    moved = "2026-12-03T07:00:05.000000Z"  # the same second as the start: WapiFlow keeps whole seconds
    assert sent_at([conversation(3, "34", "600111222", 0, moved)], phone, started) == "2026-12-03T07:00:05+00:00"
    # the search is LIKE %mobile%: another contact whose number contains ours proves nothing
    assert sent_at([conversation(3, "34", "6001112229", 0, moved)], phone, started) is None
    assert sent_at([conversation(3, "1", "600111222", 0, moved)], phone, started) is None
    # the API sends to the oldest conversation; the customer's account conversation moves on replies
    both = [conversation(9, "34", "600111222", 0, moved), conversation(4, "34", "600111222", 1, moved)]
    assert sent_at(both, phone, started) is None
    # before the send started, or never: no evidence
    assert sent_at([conversation(3, "34", "600111222", 0, "2026-12-03T07:00:04.000000Z")], phone, started) is None
    assert sent_at([conversation(3, "34", "600111222", 0, None)], phone, started) is None


def test_an_upsert_under_a_storm_stops_in_bounded_time_and_the_next_run_writes_the_rest(
    wapiflow_connection: WapiFlowSimulator, storm: Callable[[float], None]
) -> None:
    from airflow.sdk.exceptions import AirflowException

    sim = wapiflow_connection
    rows = [{"firstname": f"N{i}", "lastname": "F", "phone": f"+34{600303001 + i}"} for i in range(12)]
    storm(6)
    started = time.monotonic()
    with pytest.raises(AirflowException, match=r"rate_limit_timeout=2s"):
        UpsertContactsOperator(task_id="u", contacts=rows, rate_limit_timeout=2).execute(task_context())
    assert time.monotonic() - started < 2 + 10
    time.sleep(max(0.0, 6.5 - (time.monotonic() - started)))
    summary = UpsertContactsOperator(task_id="u", contacts=rows).execute(task_context())
    assert summary["created"] == 12
    assert Counter(str(c["mobile"]) for c in sim.contacts()) == Counter(str(600303001 + i) for i in range(12))
