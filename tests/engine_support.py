"""Engine test helpers: the real server's conversation split, and clearing a send task then running it again."""

from __future__ import annotations

from typing import Any

from dag_runs import DagRunResult, _result


def clear_tasks(dag_id: str, run_id: str, task_ids: set[str]) -> None:
    """``clear_task_instances``: what ``airflow tasks clear``, the UI's Clear and the REST API's clear run."""
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id.in_(task_ids))
            .all()
        )
        assert tis, f"no task instances {task_ids} in {dag_id} {run_id}"
        clear_task_instances(tis, session)


def run_cleared_tasks(dag: Any, run_id: str) -> DagRunResult:
    """
    Do the scheduler's part for a cleared run: run its cleared task instances again, in that run.

    ``dag.test()`` cannot: it deletes and re-creates a run with the same logical date, and the task
    state store with it.
    """
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    with create_session() as session:

        def load() -> Any:
            found = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id, DagRun.run_id == run_id).one()
            found.dag = scheduler_dag
            return found

        dag_run = load()
        dag_run.state = DagRunState.RUNNING
        session.commit()
        while dag_run.state == DagRunState.RUNNING:
            schedulable, _ = dag_run.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            if not schedulable:
                break
            for ti in schedulable:
                _run_task(ti=ti, task=dag.task_dict[ti.task_id])
            session.expire_all()
            dag_run = load()
        return _result(dag_run)


def mark_success(dag_id: str, run_id: str, task_id: str) -> None:
    """What the REST API's "mark success" (PATCH task instance, new_state=success) runs."""
    from airflow.api_fastapi.core_api.services.public.task_instances import _clear_task_state_store_on_success
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
        assert dag is not None
        updated = dag.set_task_instance_state(
            task_id=task_id, run_id=run_id, state=TaskInstanceState.SUCCESS, commit=True, session=session
        )
        assert updated, f"{task_id} was already successful"
        _clear_task_state_store_on_success(updated, session)
