"""A local WapiFlow server for tests and demos: ``WapiFlowSimulator``, fault rules, pytest fixtures.

Importing this package is cheap: Starlette and uvicorn are imported when a simulator starts.
"""

from __future__ import annotations

from airflow_provider_wapiflow.testing.faults import Fault
from airflow_provider_wapiflow.testing.outcomes import SEND_OUTCOME_KINDS, SendOutcome
from airflow_provider_wapiflow.testing.server import WapiFlowSimulator

__all__ = ["SEND_OUTCOME_KINDS", "Fault", "SendOutcome", "WapiFlowSimulator"]
