"""Run a DAG file for real with ``dag.test()`` and read back what its tasks did."""

from __future__ import annotations

import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEST_DAGS = ROOT / "tests" / "dags"
EXAMPLE_DAGS = ROOT / "example_dags"


@dataclass
class DagRunResult:
    state: str
    task_states: dict[str, str]
    """task_id (``task_id[map_index]`` for mapped tasks) → final state."""
    tries: dict[str, int]
    xcoms: dict[str, Any] = field(default_factory=dict)
    """task_id (or ``task_id[map_index]``) → the ``return_value`` XCom."""

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


def run_dag_file(
    name: str, dag_id: str | None = None, run_conf: dict[str, Any] | None = None, logical_date: Any = None
) -> DagRunResult:
    """
    Run ``name`` (a file in tests/dags or example_dags) with ``dag.test()`` and return the outcome.

    With ``logical_date`` of an earlier run, ``dag.test()`` clears that run's task instances (Airflow's
    ``clear_task_instances``, what ``airflow tasks clear`` does) and runs them again in the same run.

    The DAG must live in a DAG bundle folder: ``dag.test()`` re-parses it from there.
    """
    path = next(p for folder in (TEST_DAGS, EXAMPLE_DAGS) if (p := folder / name).exists())
    namespace = runpy.run_path(str(path))
    dags = {d.dag_id: d for d in namespace.values() if type(d).__name__ == "DAG"}
    dag = dags[dag_id] if dag_id else next(iter(dags.values()))
    dag_run = (
        dag.test(run_conf=run_conf) if logical_date is None else dag.test(run_conf=run_conf, logical_date=logical_date)
    )
    return _result(dag_run)


def _result(dag_run: Any) -> DagRunResult:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    states: dict[str, str] = {}
    tries: dict[str, int] = {}
    xcoms: dict[str, Any] = {}
    with create_session() as session:
        for ti in dag_run.get_task_instances(session=session):
            key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            states[key] = str(ti.state)
            tries[key] = ti.try_number
        rows = session.query(XComModel).filter(
            XComModel.dag_id == dag_run.dag_id,
            XComModel.run_id == dag_run.run_id,
            XComModel.key == "return_value",
        )
        for row in rows:
            key = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
            xcoms[key] = XComModel.deserialize_value(row)
    return DagRunResult(state=str(dag_run.state), task_states=states, tries=tries, xcoms=xcoms)


__all__ = ["DagRunResult", "run_dag_file"]
