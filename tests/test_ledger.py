"""The delivery ledger across tries, including a try that died in the middle of a chunk."""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow_provider_wapiflow.operators import _ledger
from airflow_provider_wapiflow.operators._ledger import DeliveryLedger

LOG = logging.getLogger(__name__)


class Store:
    """An in-memory stand-in for Airflow's task state store that, like it, keeps JSON."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.values[key] = json.dumps(value)


def test_a_chunk_left_sending_by_a_killed_worker_makes_all_its_recipients_unknown(monkeypatch: Any) -> None:
    monkeypatch.setattr(_ledger, "CHUNK_SIZE", 3)
    store = Store()
    first = DeliveryLedger(store, try_number=1, log=LOG)
    first.plan(["a", "b", "c", "d", "e"])
    for digest in ("a", "b", "c"):
        first.before_send(digest)
    first.record("a", delivered=True)
    first.record("b")  # not sent
    first.record("c", unknown=True)  # chunk 0 complete: written as done
    first.before_send("d")  # chunk 1 marked sending, then the worker is SIGKILLed: close() never runs
    assert store.get("wapiflow_ledger:1:0") == {"state": "done", "delivered": ["a"], "unknown": ["c"]}
    assert store.get("wapiflow_ledger:1:1") == {"state": "sending", "recipients": ["d", "e"]}

    history = DeliveryLedger(store, try_number=2, log=LOG).history()
    assert history.delivered == {"a"}
    assert history.unknown == {"c", "d", "e"}  # "e" never went out, but nothing proves it


def test_an_interrupted_try_records_in_flight_sends_as_unknown() -> None:
    store = Store()
    ledger = DeliveryLedger(store, try_number=1, log=LOG)
    ledger.plan(["a", "b", "c"])
    for digest in ("a", "b"):
        ledger.before_send(digest)
    ledger.record("a", delivered=True)
    ledger.close()  # e.g. the task timed out while "b" was in flight; "c" never started
    assert store.get("wapiflow_ledger:1:0") == {"state": "done", "delivered": ["a"], "unknown": ["b"]}
    assert ledger.writes == 2  # "sending" then "done": two writes per chunk, not one per message


def test_a_later_delivery_wins_over_an_earlier_unknown_and_tries_are_all_read() -> None:
    store = Store()
    store.set("wapiflow_ledger:1:0", {"state": "done", "delivered": ["a"], "unknown": ["b"]})
    store.set("wapiflow_ledger:2:0", {"state": "done", "delivered": ["b"], "unknown": []})
    store.set("wapiflow_ledger:2:1", {"state": "done", "delivered": ["c"], "unknown": ["d"]})
    history = DeliveryLedger(store, try_number=3, log=LOG).history()
    assert history.delivered == {"a", "b", "c"}
    assert history.unknown == {"d"}


def test_without_a_store_nothing_is_written_or_read() -> None:
    ledger = DeliveryLedger(None, try_number=2, log=LOG)
    ledger.plan(["a"])
    ledger.before_send("a")
    ledger.record("a", delivered=True)
    ledger.close()
    assert not ledger.enabled
    assert ledger.writes == 0
    assert ledger.history().delivered == frozenset()
