"""``make bench`` at a tiny size, so that the benchmarks cannot rot (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The keys the issue promises in benchmarks/results.json, plus the raw figures behind the ratios.
KEYS = (
    "upsert_vs_ideal",
    "upsert_vs_naive",
    "upsert_requests_vs_min",
    "send_vs_ideal",
    "send_vs_naive",
    "send_vs_ideal_c32",
    "send_rate_limited_vs_ideal",
    "send_floor_vs_ideal",
    "send_floor_worker_cpu_ms_per_request",
    "send_vs_floor",
    "send_worker_cpu_ms_per_recipient",
    "upsert_worker_cpu_ms_per_row",
    "iter_rss_growth_mb",
    "iter_items_per_s",
    "parse_import_ms",
    "trigger_kb_each",
    "trigger_cpu_ms_per_poll",
    "watcher_kb_each",
    "watcher_cpu_ms_per_poll",
    "upsert_seconds",
    "upsert_ideal_seconds",
    "upsert_naive_seconds",
    "upsert_requests",
    "upsert_requests_min",
    "upsert_naive_requests",
    "send_seconds",
    "send_ideal_seconds",
    "send_naive_seconds",
    "send_requests",
    "send_requests_min",
    "iter_seconds",
    "iter_contacts",
    "trigger_count",
    "trigger_window_polls",
)


def test_the_benchmarks_run_and_write_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--size", "tiny", "--output", str(output)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads(output.read_text())
    missing = [key for key in KEYS if key not in results]
    assert not missing, f"missing from results.json: {missing}"
    not_numbers = {
        key: results[key] for key in KEYS if isinstance(results[key], bool) or not isinstance(results[key], int | float)
    }
    assert not not_numbers, f"not numbers: {not_numbers}"
    assert results["size"] == "tiny"
    # The runs did the work they claim: every send and write reached the simulator, no request more.
    assert results["upsert_requests"] == results["upsert_requests_min"]
    assert results["send_requests"] == results["send_requests_min"]
    assert results["send_c32_requests"] == results["send_c32_requests_min"]
    assert results["iter_contacts"] > 0
    assert results["trigger_window_polls"] > 0
    assert "peak RSS growth" in completed.stdout  # the table was printed
