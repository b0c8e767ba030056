"""
``WapiFlowHook.iter_contacts`` over a big account: peak RSS growth of the iterating process and items/s.

The simulator (holding the contacts) runs in one process; the iteration runs in a fresh process of
its own, so neither the simulator's memory nor earlier benchmarks pollute the measurement. Growth is
the peak RSS during the iteration minus the RSS just before it (after one warm-up request has
opened the connection and imported what a request needs). Pages are read one after the other, so
items/s is bounded by page size / (latency + server time per page).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from typing import Any

from benchmarks.common import Outcome, PeakRss, Settings, SimProcess, cpu_seconds, pages, rss_mb, run_child

RSS_TARGET_MB = 50


def run(settings: Settings) -> Outcome:
    count = settings.sizes.iter_contacts
    per_page = settings.sizes.iter_page_size
    outcome = Outcome()
    with SimProcess(latency=settings.latency) as sim:
        started = time.perf_counter()
        sim.call("bulk_seed_contacts", count)
        seeded = time.perf_counter() - started
        sim_cpu = sim.cpu_seconds()
        measured = run_child(
            "benchmarks.iter_contacts",
            {"connection": sim.connection_json, "per_page": per_page},
            timeout=max(600, count / 1000),
        )
        sim_cpu = sim.cpu_seconds() - sim_cpu
    if measured["items"] != count:
        raise RuntimeError(f"iter_contacts yielded {measured['items']} contacts, the account has {count}")
    wall = measured["seconds"]
    growth = measured["peak_rss_mb"] - measured["rss_before_mb"]
    items_per_s = count / wall
    outcome.results.update(
        iter_contacts=count,
        iter_per_page=per_page,
        iter_pages=pages(count, per_page),
        iter_seconds=round(wall, 3),
        iter_items_per_s=round(items_per_s),
        iter_rss_before_mb=round(measured["rss_before_mb"], 1),
        iter_peak_rss_mb=round(measured["peak_rss_mb"], 1),
        iter_rss_growth_mb=round(growth, 2),
        iter_peak_method=measured["peak_method"],
        iter_worker_cpu_seconds=round(measured["cpu_seconds"], 3),
        iter_worker_cpu_us_per_item=round(measured["cpu_seconds"] * 1e6 / count, 2),
        iter_simulator_busy=round(sim_cpu / wall, 3),
        iter_seed_seconds=round(seeded, 1),
    )
    outcome.row("peak RSS growth", f"{growth:.1f} MB", f"< {RSS_TARGET_MB} MB", growth < RSS_TARGET_MB)
    outcome.row("throughput", f"{items_per_s:,.0f} contacts/s ({per_page}/page, {pages(count, per_page)} pages)")
    outcome.row("worker CPU", f"{measured['cpu_seconds'] * 1e6 / count:.1f} us/contact")
    outcome.row("simulator busy", f"{sim_cpu / wall:.0%} of one core")
    return outcome


def _child(args: dict[str, Any]) -> dict[str, Any]:
    os.environ["AIRFLOW_CONN_WAPIFLOW_DEFAULT"] = args["connection"]
    from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook

    hook = WapiFlowHook()
    hook.list_contacts(page=1, per_page=1)  # the connection, the session and the lazy imports
    gc.collect()
    before = rss_mb()
    items = 0
    with PeakRss() as peak:
        cpu = cpu_seconds()
        started = time.perf_counter()
        for _contact in hook.iter_contacts(per_page=args["per_page"]):
            items += 1
        wall = time.perf_counter() - started
        cpu = cpu_seconds() - cpu
    hook.close()
    return {
        "items": items,
        "seconds": wall,
        "cpu_seconds": cpu,
        "rss_before_mb": before,
        "peak_rss_mb": peak.peak_mb,
        "peak_method": peak.method,
    }


if __name__ == "__main__":
    print(json.dumps(_child(json.loads(sys.argv[1]))))
