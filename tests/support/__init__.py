"""
Helpers the tests share: what an operator's ``execute()`` is handed (a task context), in-memory
stand-ins for Airflow's state stores, and the ``wapiflow_default`` connection pointed at a simulator.

``tests/conftest.py`` turns them into fixtures (``sim``, ``context``); tests import them from here.
"""

from support.connection import set_connection, template_id_of
from support.context import TaskInstanceStub, context_without_task_state_store, pushed_xcoms, task_context
from support.stores import MemoryAssetStateStore, MemoryTaskStateStore

__all__ = [
    "MemoryAssetStateStore",
    "MemoryTaskStateStore",
    "TaskInstanceStub",
    "context_without_task_state_store",
    "pushed_xcoms",
    "set_connection",
    "task_context",
    "template_id_of",
]
