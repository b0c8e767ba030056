"""
Template send to N recipients: ``SendTemplateOperator`` against the ideal and against a naive loop.

Ideal: (one template read + one send per recipient) x latency / concurrency 8. Naive baseline: what a
user writes without the provider, one ``requests.post`` per recipient, in sequence, with the
template id already known. Both run against their own simulator (real-server mode, so a successful
send answers with WapiFlow's known post-send error), seeded with the same contacts.

Floor: the same sends from a bare aiohttp client (one session, 8 in flight, no validation, no envelope,
no ledger), on the operator's simulator right after it: what this machine, this simulator and aiohttp
cost before any provider code runs.
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
    warm_imports,
)

TEMPLATE = "order_shipped"  # a seeded approved template: "Hi {{1}}, your order {{2}} has shipped."
SEND_PATH = "inbox/send-template-message"


def recipients(count: int) -> list[dict[str, Any]]:
    return [{"phone": f"+34{mobile(i)}", "body_variables": [f"Customer {i}", f"ORD-{i:07d}"]} for i in range(count)]


def send_form(template_id: int, row: dict[str, Any]) -> list[tuple[str, str]]:
    """The form of one template send, as a client without the provider writes it."""
    form = [("mobile_code", "34"), ("mobile", row["phone"][3:]), ("template_id", str(template_id))]
    return form + [("body_variables[]", value) for value in row["body_variables"]]


def naive_send(sim: SimProcess, template_id: int, rows: list[dict[str, Any]]) -> None:
    """The baseline: sequential plain ``requests``, one POST per recipient (no session, no retries)."""
    import requests

    headers = {"client-id": sim.client_id, "client-secret": sim.client_secret}
    url = f"{sim.base_url}/{SEND_PATH}"
    for row in rows:
        response = requests.post(url, headers=headers, data=send_form(template_id, row), timeout=30)
        response.raise_for_status()


def floor_send(sim: SimProcess, template_id: int, rows: list[dict[str, Any]], concurrency: int) -> None:
    """The same sends from a bare aiohttp client: ``concurrency`` workers over one session."""
    import asyncio

    import aiohttp

    url = f"{sim.base_url}/{SEND_PATH}"
    headers = {"client-id": sim.client_id, "client-secret": sim.client_secret}
    forms = [send_form(template_id, row) for row in rows]

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
            pending = iter(forms)

            async def worker() -> None:
                for form in pending:
                    async with session.post(url, data=form) as response:
                        await response.read()
                        response.raise_for_status()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(main())


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
        warm_imports()
        with measured(sim) as span:
            summary = run_operator(operator, task_context())
        requests_seen = sim.request_count()
        sent_seen = sim.request_count(path_prefix=SEND_PATH)
        template_id = next(t["id"] for t in sim.call("templates") if t["name"] == TEMPLATE)
        with measured(sim) as floor:
            floor_send(sim, template_id, rows, settings.concurrency)
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
        send_floor_seconds=round(floor.wall, 3),
        send_floor_vs_ideal=round(floor.wall / ideal, 3),
        send_floor_worker_cpu_ms_per_request=round(floor.cpu * 1000 / count, 3),
        send_vs_floor=round(span.wall / floor.wall, 3),
    )
    cpu_per_recipient = span.cpu * 1000 / count
    outcome.row("wall time", seconds(span.wall))
    outcome.row("vs ideal", f"{ratio(vs_ideal)} (ideal {seconds(ideal)})", "<= 1.10x", vs_ideal <= 1.10)
    outcome.row("vs naive", f"{ratio(vs_naive)} faster (naive {seconds(naive.wall)})")
    outcome.row("requests", f"{requests_seen} (min {minimum})", "= min", requests_seen == minimum)
    outcome.row("worker CPU", f"{cpu_per_recipient:.2f} ms/recipient", "<= 0.5 ms", cpu_per_recipient <= 0.5)
    outcome.row("simulator busy", f"{span.sim_cpu / span.wall:.0%} of one core")
    outcome.row("floor (bare aiohttp)", f"{ratio(floor.wall / ideal)} of the ideal, {floor.cpu * 1000 / count:.2f} ms "
                f"CPU/request; operator {ratio(span.wall / floor.wall)} of it")  # fmt: skip
    run_c32(settings, outcome)
    run_rate_limited(settings, outcome)
    return outcome


def _send(sim: SimProcess, rows: list[dict[str, Any]], concurrency: int) -> tuple[dict[str, Any], Any, int, int]:
    """One measured send of ``rows``: the summary, the span, all requests and the sends the server took."""
    from airflow_provider_wapiflow.operators.messages import SendTemplateOperator

    operator = SendTemplateOperator(task_id="bench_send", template=TEMPLATE, recipients=rows, concurrency=concurrency)
    sim.call("clear_requests")
    warm_imports()
    with measured(sim) as span:
        summary = run_operator(operator, task_context())
    counts = sim.call("delivery_counts")
    if counts and max(counts.values()) > 1:
        raise RuntimeError("send benchmark: a recipient got the message twice")
    return summary, span, sim.request_count(), sum(counts.values())


def run_c32(settings: Settings, outcome: Outcome) -> None:
    """The same send at concurrency 32, for accounts whose WapiFlow plan allows it."""
    count, latency, concurrency = settings.sizes.send_recipients_c32, settings.latency, 32
    rows = recipients(count)
    with SimProcess(latency=latency) as sim, connection(sim.connection_json):
        sim.call("bulk_seed_contacts", count)
        summary, span, requests_seen, delivered = _send(sim, rows, concurrency)
    if summary["sent"] != count or delivered != count:
        raise RuntimeError(f"send c32: expected {count} sends, summary {summary['sent']}, server {delivered}")
    minimum = 1 + count
    ideal = ideal_seconds(minimum, latency, concurrency)
    vs_ideal = span.wall / ideal
    cpu = span.cpu * 1000 / count
    outcome.results.update(
        send_c32_recipients=count,
        send_c32_seconds=round(span.wall, 3),
        send_c32_ideal_seconds=round(ideal, 3),
        send_vs_ideal_c32=round(vs_ideal, 3),
        send_c32_requests=requests_seen,
        send_c32_requests_min=minimum,
        send_c32_concurrency_reached=summary["concurrency_reached"],
        send_c32_worker_cpu_ms_per_recipient=round(cpu, 3),
        send_c32_simulator_busy=round(span.sim_cpu / span.wall, 3),
    )
    outcome.row("c32 vs ideal", f"{ratio(vs_ideal)} ({count} at concurrency 32, ideal {seconds(ideal)})",
                "<= 1.25x", vs_ideal <= 1.25)  # fmt: skip
    outcome.row("c32 requests", f"{requests_seen} (min {minimum})", "= min", requests_seen == minimum)
    outcome.row("c32 worker CPU", f"{cpu:.2f} ms/recipient; simulator {span.sim_cpu / span.wall:.0%} of one core")


def run_rate_limited(settings: Settings, outcome: Outcome) -> None:
    """
    The send when WapiFlow answers 429 above N requests per second (a sliding one-second window).

    Ideal: at most N requests start in any one second, so request k starts at k // N seconds at the
    earliest and the last one ends a latency later (or the latency bound, if that is slower).
    The 429s sent nothing, so the messages are still one per recipient.
    """
    count, latency = settings.sizes.send_rate_limited_recipients, settings.latency
    limit = settings.sizes.send_rate_limit
    rows = recipients(count)
    with SimProcess(latency=latency) as sim, connection(sim.connection_json):
        sim.call("bulk_seed_contacts", count)
        sim.call("rate_limit", limit)
        summary, span, requests_seen, delivered = _send(sim, rows, settings.concurrency)
    if summary["sent"] != count or delivered != count:
        raise RuntimeError(f"rate-limited send: expected {count} sends, summary {summary['sent']}, server {delivered}")
    minimum = 1 + count
    ideal = max((minimum - 1) // limit + latency, ideal_seconds(minimum, latency, settings.concurrency))
    vs_ideal = span.wall / ideal
    outcome.results.update(
        send_rate_limited_recipients=count,
        send_rate_limit_per_second=limit,
        send_rate_limited_seconds=round(span.wall, 3),
        send_rate_limited_ideal_seconds=round(ideal, 3),
        send_rate_limited_vs_ideal=round(vs_ideal, 3),
        send_rate_limited_requests=requests_seen,
        send_rate_limited_429=summary["rate_limited"],
        send_rate_limited_concurrency_reached=summary["concurrency_reached"],
        send_rate_limited_worker_cpu_ms_per_recipient=round(span.cpu * 1000 / count, 3),
    )
    outcome.row("rate-limited vs ideal",
                f"{ratio(vs_ideal)} ({count} at {limit}/s, ideal {seconds(ideal)}; {summary['rate_limited']} 429s)",
                "<= 1.25x", vs_ideal <= 1.25)  # fmt: skip
    outcome.row("rate-limited messages", f"{delivered} for {count} recipients", "= recipients", delivered == count)
