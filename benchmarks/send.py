"""
Template send to N recipients: ``SendTemplateOperator`` against the ideal and against a naive loop.

Ideal: (one template read + one send per recipient) x latency / concurrency 8. Naive baseline: what a
user writes without the provider, one ``requests.post`` per recipient, in sequence, with the
template id already known. Both run against their own simulator (real-server mode, so a successful
send answers with WapiFlow's known post-send error), seeded with the same contacts.
"""

from __future__ import annotations

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
)

TEMPLATE = "order_shipped"  # a seeded approved template: "Hi {{1}}, your order {{2}} has shipped."
SEND_PATH = "inbox/send-template-message"


def recipients(count: int) -> list[dict[str, Any]]:
    return [{"phone": f"+34{mobile(i)}", "body_variables": [f"Customer {i}", f"ORD-{i:07d}"]} for i in range(count)]


def naive_send(sim: SimProcess, template_id: int, rows: list[dict[str, Any]]) -> None:
    """The baseline: sequential plain ``requests``, one POST per recipient (no session, no retries)."""
    import requests

    headers = {"client-id": sim.client_id, "client-secret": sim.client_secret}
    url = f"{sim.base_url}/{SEND_PATH}"
    for row in rows:
        form = [("mobile_code", "34"), ("mobile", row["phone"][3:]), ("template_id", str(template_id))]
        form += [("body_variables[]", value) for value in row["body_variables"]]
        response = requests.post(url, headers=headers, data=form, timeout=30)
        response.raise_for_status()


def run(settings: Settings) -> Outcome:
    from airflow_provider_wapiflow.operators.messages import SendTemplateOperator

    count = settings.sizes.send_recipients
    latency = settings.latency
    rows = recipients(count)
    outcome = Outcome()

    with SimProcess(latency=latency) as sim, connection(sim.connection_json):
        sim.call("bulk_seed_contacts", count)
        operator = SendTemplateOperator(task_id="bench_send", template=TEMPLATE, recipients=rows)
        assert operator.concurrency == settings.concurrency
        sim.call("clear_requests")
        with measured(sim) as span:
            summary = run_operator(operator, task_context())
        requests_seen = sim.request_count()
        sent_seen = sim.request_count(path_prefix=SEND_PATH)
    if summary["sent"] != count or sent_seen != count:
        raise RuntimeError(f"send benchmark: expected {count} sends, summary {summary['sent']}, server {sent_seen}")

    with SimProcess(latency=latency) as sim:
        sim.call("bulk_seed_contacts", count)
        template_id = next(t["id"] for t in sim.call("templates") if t["name"] == TEMPLATE)
        sim.call("clear_requests")
        with measured(sim) as naive:
            naive_send(sim, template_id, rows)
        naive_requests = sim.request_count()

    minimum = 1 + count  # the template lookup (id, approval, placeholders) + one send per recipient
    ideal = ideal_seconds(minimum, latency, settings.concurrency)
    vs_ideal = span.wall / ideal
    vs_naive = naive.wall / span.wall
    outcome.results.update(
        send_recipients=count,
        send_seconds=round(span.wall, 3),
        send_ideal_seconds=round(ideal, 3),
        send_naive_seconds=round(naive.wall, 3),
        send_vs_ideal=round(vs_ideal, 3),
        send_vs_naive=round(vs_naive, 2),
        send_requests=requests_seen,
        send_requests_min=minimum,
        send_requests_vs_min=round(requests_seen / minimum, 4),
        send_naive_requests=naive_requests,
        send_worker_cpu_seconds=round(span.cpu, 3),
        send_worker_cpu_ms_per_recipient=round(span.cpu * 1000 / count, 3),
        send_simulator_cpu_seconds=round(span.sim_cpu, 3),
        send_simulator_busy=round(span.sim_cpu / span.wall, 3),
        send_naive_simulator_busy=round(naive.sim_cpu / naive.wall, 3),
        send_concurrency=settings.concurrency,
    )
    outcome.row("wall time", seconds(span.wall))
    outcome.row("vs ideal", f"{ratio(vs_ideal)} (ideal {seconds(ideal)})", "<= 1.25x", vs_ideal <= 1.25)
    outcome.row("vs naive", f"{ratio(vs_naive)} faster (naive {seconds(naive.wall)})")
    outcome.row("requests", f"{requests_seen} (min {minimum})", "= min", requests_seen == minimum)
    outcome.row("worker CPU", f"{span.cpu * 1000 / count:.2f} ms/recipient")
    outcome.row("simulator busy", f"{span.sim_cpu / span.wall:.0%} of one core")
    return outcome
