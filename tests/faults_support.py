"""Shared helpers of the fault, real-server-failure and secret-hygiene tests: XComs and rendered fields of a run."""

from __future__ import annotations

from typing import Any


def latest_run_id(dag_id: str) -> str:
    """The run id of the newest run of ``dag_id`` in the metadata DB."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        assert run is not None, f"no run of {dag_id}"
        return str(run.run_id)


def run_xcoms(dag_id: str, run_id: str | None = None) -> dict[tuple[str, str], Any]:
    """Every XCom of a run (the newest when ``run_id`` is None), as ``{(task_key, key): value}``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run_id = run_id or latest_run_id(dag_id)
    values: dict[tuple[str, str], Any] = {}
    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id)
        for row in rows:
            task = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
            values[(task, row.key)] = XComModel.deserialize_value(row)
    return values


def rendered_fields(dag_id: str, run_id: str | None = None) -> dict[str, dict[str, Any]]:
    """The rendered template fields Airflow stored for each task of a run (what the UI's "Rendered" tab shows)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.utils.session import create_session

    run_id = run_id or latest_run_id(dag_id)
    fields: dict[str, dict[str, Any]] = {}
    with create_session() as session:
        for row in session.query(RTIF).filter(RTIF.dag_id == dag_id, RTIF.run_id == run_id):
            task = row.task_id if row.map_index < 0 else f"{row.task_id}[{row.map_index}]"
            fields[task] = dict(row.rendered_fields or {})
    return fields
