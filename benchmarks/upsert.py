"""
Contact upsert: ``UpsertContactsOperator`` against the ideal and against a naive loop.

The account holds E contacts; the input has R rows: the E existing ones, C of them changed (a new
city), plus R - E new ones, in shuffled order. Minimum requests = the pages of one read of the
contact list at the operator's page size + one write per new or changed row; ideal = minimum x
latency / concurrency 8.

Naive baseline: what a user writes with plain ``requests`` and no provider: per row, in sequence,
one contact search for the number, then a create or an update (one write per row, changed or not).
Contact search is broken on the real server (docs/server-bugs.rst#bug-contact-search), so the baseline runs against a
simulator in *patched* mode, where search works; the operator runs against the real-server mode.
"""

from __future__ import annotations

import math
import random
from typing import Any

from benchmarks.common import (
    Outcome,
    Settings,
    SimProcess,
    connection,
    ideal_seconds,
    measured,
    mobile,
    ratio,
    run_operator,
    seconds,
    task_context,
    warm_imports,
)

NEW_CITY = "Bilbao"


def input_rows(existing: list[dict[str, Any]], total: int, changed: int) -> list[dict[str, Any]]:
    """The existing contacts as rows (the first ``changed`` with a new city) plus new contacts, shuffled."""
    rows: list[dict[str, Any]] = []
    for position, contact in enumerate(existing):
        row = {key: contact[key] for key in ("firstname", "lastname", "mobile_code", "mobile")}
        if position < changed:
            row["city"] = NEW_CITY
        rows.append(row)
    for index in range(len(existing), total):
        rows.append({"firstname": "Nuevo", "lastname": f"Cliente {index}", "phone": f"+34{mobile(index)}"})
    random.Random(8).shuffle(rows)
    return rows


def naive_upsert(sim: SimProcess, rows: list[dict[str, Any]]) -> None:
    """The baseline: sequential plain ``requests``, one search and one create or update per row."""
    import requests

    headers = {"client-id": sim.client_id, "client-secret": sim.client_secret}
    base = sim.base_url
    for row in rows:
        code, number = (row["mobile_code"], row["mobile"]) if "mobile" in row else ("34", row["phone"][3:])
        found = requests.get(f"{base}/contact/list", headers=headers, params={"search": number}, timeout=30)
        found.raise_for_status()
        matches = [
            c for c in found.json()["data"]["contacts"]["data"] if (c["mobile_code"], c["mobile"]) == (code, number)
        ]
        form = {"firstname": row["firstname"], "lastname": row["lastname"], "mobile_code": code, "mobile": number}
        if "city" in row:
            form["city"] = row["city"]
        url = f"{base}/contact/update/{matches[0]['id']}" if matches else f"{base}/contact/store"
        response = requests.post(url, headers=headers, data=form, timeout=30)
        response.raise_for_status()
        if response.json()["status"] != "success":
            raise RuntimeError(f"naive upsert: {response.text[:200]}")


def run(settings: Settings) -> Outcome:
    from airflow_provider_wapiflow.operators.contacts import DEFAULT_PAGE_SIZE, UpsertContactsOperator

    sizes = settings.sizes
    total, existing_count, changed = sizes.upsert_rows, sizes.upsert_existing, sizes.upsert_changed
    new = total - existing_count
    latency = settings.latency

    with SimProcess(latency=latency) as sim, connection(sim.connection_json):
        sim.call("bulk_seed_contacts", existing_count)
        rows = input_rows(sim.call("contacts"), total, changed)
        operator = UpsertContactsOperator(task_id="bench_upsert", contacts=rows)
        assert operator.concurrency == settings.concurrency
        sim.call("clear_requests")
        warm_imports()
        with measured(sim) as span:
            summary = run_operator(operator, task_context())
        requests_seen = sim.request_count()
        contacts_after = len(sim.call("contacts"))
    expected = {"created": new, "updated": changed, "unchanged": existing_count - changed, "failed_count": 0}
    if {key: summary[key] for key in expected} != expected or contacts_after != total:
        raise RuntimeError(f"upsert benchmark: expected {expected} and {total} contacts, got {summary}")

    with SimProcess(latency=latency, patched=True) as sim:
        sim.call("bulk_seed_contacts", existing_count)
        sim.call("clear_requests")
        with measured(sim) as naive:
            naive_upsert(sim, rows)
        naive_requests = sim.request_count()
        if len(sim.call("contacts")) != total:
            raise RuntimeError("naive upsert: wrong contact count")

    list_pages = max(1, math.ceil(existing_count / DEFAULT_PAGE_SIZE))
    minimum = list_pages + new + changed
    ideal = ideal_seconds(minimum, latency, settings.concurrency)
    vs_ideal = span.wall / ideal
    vs_naive = naive.wall / span.wall
    outcome = Outcome()
    outcome.results.update(
        upsert_rows=total,
        upsert_existing=existing_count,
        upsert_changed=changed,
        upsert_seconds=round(span.wall, 3),
        upsert_ideal_seconds=round(ideal, 3),
        upsert_naive_seconds=round(naive.wall, 3),
        upsert_vs_ideal=round(vs_ideal, 3),
        upsert_vs_naive=round(vs_naive, 2),
        upsert_requests=requests_seen,
        upsert_requests_min=minimum,
        upsert_requests_vs_min=round(requests_seen / minimum, 4),
        upsert_list_pages=list_pages,
        upsert_page_size=DEFAULT_PAGE_SIZE,
        upsert_naive_requests=naive_requests,
        upsert_naive_search="patched simulator (contact search fails on the real server)",
        upsert_worker_cpu_seconds=round(span.cpu, 3),
        upsert_worker_cpu_ms_per_row=round(span.cpu * 1000 / total, 3),
        upsert_simulator_busy=round(span.sim_cpu / span.wall, 3),
        upsert_naive_simulator_busy=round(naive.sim_cpu / naive.wall, 3),
        upsert_concurrency=settings.concurrency,
    )
    outcome.row("wall time", seconds(span.wall))
    outcome.row("vs ideal", f"{ratio(vs_ideal)} (ideal {seconds(ideal)})", "<= 1.10x", vs_ideal <= 1.10)
    outcome.row("vs naive", f"{ratio(vs_naive)} faster (naive {seconds(naive.wall)})", ">= 8x", vs_naive >= 8)
    outcome.row("requests", f"{requests_seen} (min {minimum})", "= min", requests_seen == minimum)
    cpu_per_row = span.cpu * 1000 / total
    outcome.row("worker CPU", f"{cpu_per_row:.2f} ms/row", "<= 0.5 ms", cpu_per_row <= 0.5)
    outcome.row("simulator busy", f"{span.sim_cpu / span.wall:.0%} of one core")
    return outcome
