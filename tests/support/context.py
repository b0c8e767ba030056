"""
The context Airflow hands ``execute()``, reduced to what the provider's operators and sensors read,
for tests that call ``execute()`` directly instead of running a DAG.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from support.stores import MemoryTaskStateStore

if TYPE_CHECKING:
    from airflow.sdk import Context


@dataclass
class TaskInstanceStub:
    """``context["ti"]``: the task instance's identity, its try number, and the XComs it pushed."""

    try_number: int = 1
    dag_id: str = "d"
    run_id: str = "r"
    task_id: str = "t"
    map_index: int = -1
    pushed: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = json.loads(json.dumps(value))  # an XCom must survive JSON, as Airflow's does


def task_context(task_state_store: MemoryTaskStateStore | None = None, *, try_number: int = 1) -> Context:
    """
    An Airflow 3.3 task context: ``ti`` (try ``try_number``) and a task state store.

    Pass the same ``task_state_store`` to the contexts of several tries of one task instance; without
    one, the context gets a new empty store.
    """
    store = MemoryTaskStateStore() if task_state_store is None else task_state_store
    return cast("Context", {"ti": TaskInstanceStub(try_number), "task_state_store": store})


def context_without_task_state_store(*, try_number: int = 1) -> Context:
    """The context of an Airflow without a task state store (before 3.3): ``ti`` only."""
    return cast("Context", {"ti": TaskInstanceStub(try_number)})


def pushed_xcoms(context: Context) -> dict[str, Any]:
    """The XComs pushed through the context's ``ti`` by key (a context of :func:`task_context`)."""
    ti = context["ti"]
    assert isinstance(ti, TaskInstanceStub), ti
    return ti.pushed
