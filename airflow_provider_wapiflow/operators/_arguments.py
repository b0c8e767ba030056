"""The bulk operators' arguments, checked when the operator is built or rendered."""

from __future__ import annotations

import ast
import contextlib
import json
import warnings
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError

try:
    from airflow.exceptions import AirflowProviderDeprecationWarning
except ImportError:  # pragma: no cover - Airflow without it
    AirflowProviderDeprecationWarning = DeprecationWarning  # type: ignore[misc,assignment]


def deprecated_ratio(max_failures: int | float | None, max_failure_rate: float | None) -> tuple[int, float | None]:
    """
    Split the old ``max_failures`` spelling: a float there is a rate (deprecated), an int a count.

    :return: ``(max_failures, max_failure_rate)`` as the operators keep them.
    :raises WapiFlowInputError: a wrong type, a negative count or a rate outside 0..1.
    """
    if isinstance(max_failures, float):
        warnings.warn(
            f"max_failures={max_failures!r} as a float (a rate of the recipients) is deprecated: a value from "
            "JSON conf can flip between a count and a rate; use max_failure_rate for a rate, max_failures "
            "for a count",
            AirflowProviderDeprecationWarning,
            stacklevel=4,
        )
        if max_failure_rate is not None:
            raise WapiFlowInputError("give 'max_failure_rate' only, not also a float 'max_failures'")
        max_failures, max_failure_rate = 0, max_failures
    if max_failures is None:
        max_failures = 0
    if isinstance(max_failures, bool) or not isinstance(max_failures, int) or max_failures < 0:
        raise WapiFlowInputError(f"'max_failures' must be a count (an integer >= 0), got {max_failures!r}")
    if max_failure_rate is not None and (
        isinstance(max_failure_rate, bool)
        or not isinstance(max_failure_rate, (int, float))
        or not 0.0 <= max_failure_rate <= 1.0
    ):
        raise WapiFlowInputError(f"'max_failure_rate' must be a number from 0.0 to 1.0, got {max_failure_rate!r}")
    return max_failures, None if max_failure_rate is None else float(max_failure_rate)


def failure_budget(max_failures: int, max_failure_rate: float | None, total: int) -> int:
    """How many items may fail before the task fails: the larger of the count and the rate of ``total``."""
    by_rate = int(max_failure_rate * total) if max_failure_rate is not None else 0
    return max(max_failures, by_rate)


def describe_budget(max_failures: int, max_failure_rate: float | None) -> str:
    rate = f", max_failure_rate={max_failure_rate!r}" if max_failure_rate is not None else ""
    return f"max_failures={max_failures!r}{rate}"


def rendered_list(value: Any, field: str) -> Any:
    """
    A list that a template rendered to text (a DAG without ``render_template_as_native_obj``).

    Parsed as JSON, or as the Python literal Jinja makes of a list; never evaluated as code.
    """
    if not isinstance(value, str):
        return value
    parsed: Any = None
    try:
        parsed = json.loads(value)
    except ValueError:
        with contextlib.suppress(ValueError, SyntaxError):
            parsed = ast.literal_eval(value)
    if isinstance(parsed, (list, tuple)):
        return list(parsed)
    raise WapiFlowInputError(
        f"'{field}' rendered to text that is not a list; pass the XComArg itself "
        f"(e.g. {field}=upstream_task.output) or set render_template_as_native_obj=True on the DAG"
    )


def check_concurrency(concurrency: int) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise WapiFlowInputError(f"'concurrency' must be an integer from 1 to 64, got {concurrency!r}")
    return concurrency


def check_rate_limit_timeout(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise WapiFlowInputError(f"'rate_limit_timeout' must be a positive number of seconds, got {seconds!r}")
    return float(seconds)
