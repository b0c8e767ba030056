"""The delivery ledger across tries, including a try that died in the middle of a chunk and try 102."""

from __future__ import annotations

import logging
from typing import Any

from support import MemoryTaskStateStore

from airflow_provider_wapiflow.operators import _ledger
from airflow_provider_wapiflow.operators._ledger import INDEX_KEY, DeliveryLedger, RunScopedStore

LOG = logging.getLogger(__name__)
AT = "2026-12-03T07:00:00+00:00"


def _try(
    store: MemoryTaskStateStore, try_number: int, deliver: dict[str, bool | None], **kwargs: Any
) -> DeliveryLedger:
    """One try: plan, send, record: True delivered, None unknown, False not sent."""
    ledger = DeliveryLedger(store, try_number=try_number, log=LOG, **kwargs)
    history = ledger.history()
    todo = [d for d in deliver if d not in history.delivered and d not in history.unknown]
    ledger.plan(todo)
    for digest in todo:
        ledger.before_send(digest)
        outcome = deliver[digest]
        ledger.record(digest, delivered_at=f"{AT[:-6]}.{try_number:06d}+00:00" if outcome else None,
                      unknown=outcome is None)  # fmt: skip
    ledger.close()
    return ledger


def test_a_chunk_left_sending_by_a_killed_worker_makes_all_its_recipients_unknown(monkeypatch: Any) -> None:
    monkeypatch.setattr(_ledger, "CHUNK_SIZE", 3)
    store = MemoryTaskStateStore()
    first = DeliveryLedger(store, try_number=1, log=LOG)
    first.plan(["a", "b", "c", "d", "e"])
    for digest in ("a", "b", "c"):
        first.before_send(digest)
    first.record("a", delivered_at=AT)
    first.record("b")  # not sent
    first.record("c", unknown=True)  # chunk 0 complete: written as done
    first.before_send("d")  # chunk 1 marked sending, then the worker is SIGKILLed: close() never runs
    assert store.get("wapiflow_ledger:1.0:0") == {"state": "done", "delivered": {"a": AT}, "unknown": ["c"]}
    assert store.get("wapiflow_ledger:1.0:1") == {"state": "sending", "recipients": ["d", "e"]}

    history = DeliveryLedger(store, try_number=2, log=LOG).history()
    assert history.delivered == {"a"}
    assert history.delivered_at == {"a": AT}
    assert history.unknown == {"c", "d", "e"}  # "e" never went out, but nothing proves it


def test_an_interrupted_try_records_in_flight_sends_as_unknown() -> None:
    store = MemoryTaskStateStore()
    ledger = DeliveryLedger(store, try_number=1, log=LOG)
    ledger.plan(["a", "b", "c"])
    for digest in ("a", "b"):
        ledger.before_send(digest)
    ledger.record("a", delivered_at=AT)
    ledger.close()  # e.g. the task timed out while "b" was in flight; "c" never started
    assert store.get("wapiflow_ledger:1.0:0") == {"state": "done", "delivered": {"a": AT}, "unknown": ["b"]}
    # one index write per try, then "sending" and "done": never one write per message
    assert ledger.writes == 3


def test_try_102_skips_what_try_1_delivered_at_the_same_cost_as_try_2() -> None:
    store = MemoryTaskStateStore()
    _try(store, 1, {"a": True, "b": False, "c": None})
    reads_at_try_2 = DeliveryLedger(store, try_number=2, log=LOG)
    reads_at_try_2.history()
    for try_number in range(2, 102):  # a hundred tries that send nothing new ("b" keeps failing)
        _try(store, try_number, {"b": False})
    ledger = DeliveryLedger(store, try_number=102, log=LOG)
    history = ledger.history()
    assert history.delivered == {"a"}, "try 102 must still know what try 1 delivered"
    assert history.delivered_at["a"].endswith(".000001+00:00"), "the first try's time, never moved"
    assert history.unknown == {"c"}
    # Tries that only re-sent "b" each add one chunk; reads grow with what was written, never with
    # empty probes of tries that wrote nothing, and there is no window of 100 tries.
    assert ledger.reads == 1 + len(store.get(INDEX_KEY)["keys"])
    assert reads_at_try_2.reads == 2


def test_tries_that_send_nothing_cost_nothing_later() -> None:
    store = MemoryTaskStateStore()
    _try(store, 1, {"a": True})
    for try_number in range(2, 150):
        _try(store, try_number, {"a": True})  # everything skipped: nothing planned, nothing written
    ledger = DeliveryLedger(store, try_number=150, log=LOG)
    assert ledger.history().delivered == {"a"}
    assert ledger.reads == 2  # the index and try 1's chunk


def test_a_later_delivery_wins_over_an_earlier_unknown_and_the_first_time_is_kept() -> None:
    store = MemoryTaskStateStore()
    _try(store, 1, {"a": True, "b": None})
    ledger = DeliveryLedger(store, try_number=2, log=LOG)
    ledger.resolve({"b": "2026-12-03T07:00:05+00:00"})  # the read-back proved "b" sent
    history = DeliveryLedger(store, try_number=3, log=LOG).history()
    assert history.delivered == {"a", "b"}
    assert history.delivered_at["b"] == "2026-12-03T07:00:05+00:00"
    assert history.unknown == frozenset()


def test_resend_after_clear_ignores_what_was_written_before_the_latest_clear() -> None:
    store = MemoryTaskStateStore()
    _try(store, 1, {"a": True}, clear_number=0)
    kept = DeliveryLedger(store, try_number=2, log=LOG, clear_number=1).history()
    assert kept.delivered == {"a"}, "by default a cleared task remembers what it sent"
    forgotten = DeliveryLedger(store, try_number=2, log=LOG, clear_number=1, ignore_before_clear=True).history()
    assert forgotten.delivered == frozenset()


def test_a_run_scoped_store_prefixes_every_key() -> None:
    shared = MemoryTaskStateStore()
    _try(RunScopedStore(shared, "dag/run_1/send/-1"), 1, {"a": True})  # type: ignore[arg-type]
    _try(RunScopedStore(shared, "dag/run_2/send/-1"), 1, {"b": True})  # type: ignore[arg-type]
    assert all(key.startswith(("dag/run_1/send/-1:", "dag/run_2/send/-1:")) for key in shared.values)
    history = DeliveryLedger(RunScopedStore(shared, "dag/run_1/send/-1"), try_number=2, log=LOG).history()
    assert history.delivered == {"a"}


def test_without_a_store_nothing_is_written_or_read() -> None:
    ledger = DeliveryLedger(None, try_number=2, log=LOG)
    ledger.plan(["a"])
    ledger.before_send("a")
    ledger.record("a", delivered_at=AT)
    ledger.close()
    assert not ledger.enabled
    assert ledger.writes == 0
    assert ledger.history().delivered == frozenset()
