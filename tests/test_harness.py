"""The DAG-run harness the other tests rely on: real dag.test() runs, retries, XCom read-back."""

from __future__ import annotations

from collections.abc import Callable

from dag_runs import DagRunResult


def test_dag_test_runs_retries_and_returns_xcoms(run_dag: Callable[..., DagRunResult]) -> None:
    result = run_dag("smoke_dag.py")
    assert result.succeeded
    assert result.tries == {"flaky": 2}
    assert result.xcoms == {"flaky": {"try": 2}}
