"""
DAG-parse cost: what importing the provider's operators, sensor and notifier adds to a fresh process.

Each run is a new interpreter (like a DAG-processor child) that imports ``airflow.sdk``, then the
provider modules a DAG file uses, timing the second step. The median of several runs is reported,
next to the same figure measured over ``from airflow.sdk import DAG, BaseOperator, …`` (what every
DAG file pays anyway). Bytecode is cached (one warm-up run each), as in a deployed Airflow.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import ROOT, Outcome, Settings

TARGET_MS = 50
MODULES = (
    "airflow_provider_wapiflow.operators.messages",
    "airflow_provider_wapiflow.operators.contacts",
    "airflow_provider_wapiflow.operators.conversations",
    "airflow_provider_wapiflow.sensors.conversations",
    "airflow_provider_wapiflow.notifications.wapiflow",
)
#: Libraries that a DAG file should not pay for at parse time (imported when a task runs).
HEAVY = ("requests", "urllib3", "aiohttp", "phonenumbers", "airflow.triggers.base", "starlette", "uvicorn")

_SCRIPT = """
import importlib, json, sys, time
started = time.perf_counter()
import airflow.sdk
sdk = time.perf_counter()
if {classes!r}:
    from airflow.sdk import DAG, BaseNotifier, BaseOperator, BaseSensorOperator
base = time.perf_counter()
heavy_before = [m for m in {heavy!r} if m in sys.modules]
for name in {modules!r}:
    importlib.import_module(name)
done = time.perf_counter()
print(json.dumps({{
    "sdk_ms": (sdk - started) * 1000,
    "base_ms": (base - started) * 1000,
    "provider_ms": (done - base) * 1000,
    "heavy": [m for m in {heavy!r} if m in sys.modules and m not in heavy_before],
}}))
"""


def _run(modules: tuple[str, ...], *, classes: bool) -> dict[str, Any]:
    script = _SCRIPT.format(classes=classes, heavy=HEAVY, modules=modules)
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    process_ms = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        raise RuntimeError(f"import run failed:\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["process_ms"] = process_ms
    return result


def run(settings: Settings) -> Outcome:
    runs = settings.sizes.parse_runs
    _run(MODULES, classes=True)  # warm-up: compile and cache the bytecode of everything imported
    provider: list[dict[str, Any]] = []
    over_classes: list[dict[str, Any]] = []
    for _ in range(runs):  # interleaved, so that a noisy moment hits both variants alike
        provider.append(_run(MODULES, classes=False))
        over_classes.append(_run(MODULES, classes=True))

    def median(rows: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(row[key] for row in rows))

    import_ms = median(provider, "provider_ms")
    over_classes_ms = median(over_classes, "provider_ms")
    outcome = Outcome()
    outcome.results.update(
        parse_import_ms=round(import_ms, 1),
        parse_import_ms_runs=[round(row["provider_ms"], 1) for row in provider],
        parse_import_ms_over_sdk_classes=round(over_classes_ms, 1),
        parse_sdk_import_ms=round(median(provider, "sdk_ms"), 1),
        parse_process_ms=round(median(provider, "process_ms"), 1),
        parse_heavy_modules_imported=sorted(set().union(*(row["heavy"] for row in provider))),
        parse_runs=runs,
    )
    outcome.row(
        "import over airflow.sdk",
        f"{import_ms:.1f} ms (median of {runs})",
        f"< {TARGET_MS} ms",
        import_ms < TARGET_MS,
    )
    outcome.row("import over the sdk classes", f"{over_classes_ms:.1f} ms (median of {runs})")
    heavy = outcome.results["parse_heavy_modules_imported"]
    outcome.row("heavy libraries imported", ", ".join(heavy) if heavy else "none")
    return outcome
