"""
Answers that never end or never make sense (issue 13.1-13.3), and WapiFlow's clock (server_now): raw
socket servers on 127.0.0.1 for the slow, endless and lying answers, the simulator for the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from typing import Any

import pytest
from raw_http import Exchange, RawServer

from airflow_provider_wapiflow.exceptions import (
    SendOutcome,
    WapiFlowConnectionError,
    WapiFlowError,
    WapiFlowServerError,
)
from airflow_provider_wapiflow.hooks._clock import ServerClock
from airflow_provider_wapiflow.hooks._pages import PAGE_GROWTH_ALLOWANCE
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook
from airflow_provider_wapiflow.testing import WapiFlowSimulator

SPAIN = ("34", "600111222")
FAST = {"max_retries": 0, "deadline": 1.5, "timeout": 5, "send_timeout": 5}
BODY = json.dumps({"remark": "inbox", "status": "success", "data": {"templates": {"current_page": 1, "data": [],
                   "last_page": 1, "total": 0}}}).encode()  # fmt: skip


def _use(monkeypatch: pytest.MonkeyPatch, server: RawServer, **extra: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", server.connection_json(**{**FAST, **extra}))


def drip_body(exchange: Exchange) -> None:
    """Headers at once, then a body of 600 bytes at one byte every 0.5 s (5 minutes)."""
    body = BODY.ljust(600)
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    exchange.write(head.encode())
    exchange.drip(body, 0.5)


def drip_everything(exchange: Exchange) -> None:
    """Even the status line and the headers come one byte every 0.5 s."""
    exchange.drip(b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 600 + b"\r\n\r\n", 0.5)


def endless(exchange: Exchange) -> None:
    """A body without a length that never ends (until the client leaves)."""
    exchange.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
    exchange.write(b'{"remark": "inbox", "status": "success", "data": {"x": "')
    chunk = b"x" * 65536
    while not exchange.stopping.is_set() and exchange.write(chunk):
        pass


def announced_huge(exchange: Exchange) -> None:
    exchange.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 900000000\r\n\r\n{")
    exchange.stopping.wait(10)


@pytest.fixture
def raw(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    with RawServer(request.param) as server:
        yield server


# --- 13.1: a total deadline, sync and async ---------------------------------------------------------


@pytest.mark.parametrize("raw", [drip_body, drip_everything], indirect=True, ids=["body", "headers"])
def test_a_dripping_read_ends_at_the_deadline(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, raw)
    with pytest.raises(WapiFlowConnectionError, match=r"no complete answer within the 1\.5 s deadline") as caught:
        WapiFlowHook().list_templates()
    assert caught.value.retryable  # a read may be tried again
    assert f"connection 'wapiflow_default' (Base URL {raw.base_url}" in str(caught.value)
    assert raw.exchanges[0].sent < 100  # cut off long before the 600 bytes were out


@pytest.mark.parametrize("raw", [drip_body, drip_everything], indirect=True, ids=["body", "headers"])
def test_a_dripping_send_is_unknown_and_not_repeated(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, raw, max_retries=3)
    with pytest.raises(WapiFlowConnectionError, match="deadline") as caught:
        WapiFlowHook().send_message(*SPAIN, message="hello")
    assert caught.value.outcome is SendOutcome.UNKNOWN
    assert "The message may have been sent" in str(caught.value)
    assert len(raw.requests) == 1


@pytest.mark.parametrize("raw", [drip_body, drip_everything], indirect=True, ids=["body", "headers"])
async def test_the_async_hook_has_the_same_deadline(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, raw)
    async with WapiFlowAsyncHook() as hook:
        with pytest.raises(WapiFlowConnectionError, match=r"no complete answer within the 1\.5 s deadline"):
            await hook.list_templates()
        with pytest.raises(WapiFlowConnectionError, match="deadline") as caught:
            await hook.send_message(*SPAIN, message="hello")
    assert caught.value.outcome is SendOutcome.UNKNOWN
    assert len(raw.requests) == 2
    assert all(exchange.sent < 100 for exchange in raw.exchanges)


def test_the_deadline_does_not_cut_a_normal_answer(wapiflow_connection: WapiFlowSimulator) -> None:
    hook = WapiFlowHook(deadline=5)
    for _ in range(20):  # connections are reused: an old deadline must not shut a later request's socket
        assert hook.list_templates()["total"] == len(wapiflow_connection.templates())


# --- 13.1: an answer-size cap ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [endless, announced_huge], indirect=True, ids=["endless", "content-length"])
def test_an_over_long_read_is_a_retryable_server_error(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, raw, max_answer_bytes=1024 * 1024, deadline=30)
    with pytest.raises(WapiFlowServerError, match="larger than max_answer_bytes=1048576") as caught:
        WapiFlowHook().list_templates()
    assert caught.value.retryable
    assert raw.exchanges[0].sent < 50 * 1024 * 1024  # the client stopped reading; memory stayed bounded


@pytest.mark.parametrize("raw", [endless, announced_huge], indirect=True, ids=["endless", "content-length"])
def test_an_over_long_send_answer_is_unknown(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, raw, max_answer_bytes=1024 * 1024, deadline=30, max_retries=3)
    with pytest.raises(WapiFlowServerError, match="larger than max_answer_bytes") as caught:
        WapiFlowHook().send_message(*SPAIN, message="hello")
    assert caught.value.outcome is SendOutcome.UNKNOWN
    assert len(raw.requests) == 1


@pytest.mark.parametrize("raw", [endless, announced_huge], indirect=True, ids=["endless", "content-length"])
async def test_the_async_hook_has_the_same_cap(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, raw, max_answer_bytes=1024 * 1024, deadline=30)
    async with WapiFlowAsyncHook() as hook:
        with pytest.raises(WapiFlowServerError, match="larger than max_answer_bytes=1048576"):
            await hook.list_templates()
        with pytest.raises(WapiFlowServerError, match="larger than max_answer_bytes") as caught:
            await hook.send_message(*SPAIN, message="hello")
    assert caught.value.outcome is SendOutcome.UNKNOWN


def test_the_cap_is_well_above_the_largest_wapiflow_page(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.bulk_seed_contacts(1000)
    hook = WapiFlowHook()
    page = hook.list_contacts(per_page=1000)
    assert len(page["data"]) == 1000
    assert len(json.dumps(page)) * 4 < hook.settings.max_answer_bytes


# --- 13.2: pagination that does not advance ----------------------------------------------------------


def paginator(exchange: Exchange, current: int, last: int, key: str = "conversation") -> None:
    items = [{"id": current * 10 + i, "name": f"t{current}_{i}", "status": 1} for i in range(2)]
    data = {key: {"current_page": current, "data": items, "last_page": last, "per_page": 2, "total": last * 2}}
    exchange.answer(200, {"remark": "inbox", "status": "success", "data": data})


def stuck(exchange: Exchange) -> None:
    paginator(exchange, 1, 5)  # whatever page is asked for


def going_back(exchange: Exchange) -> None:
    asked = int(exchange.query.get("page", "1"))
    paginator(exchange, 1 if asked == 3 else asked, 5)


def lying_last_page(exchange: Exchange) -> None:
    asked = int(exchange.query.get("page", "1"))
    paginator(exchange, asked, asked + 1)


@pytest.mark.parametrize(
    ("raw", "message", "requests"),
    [
        (stuck, "asked for page 2, got page 1 \\(repeated an earlier page\\)", 2),
        (going_back, "asked for page 3, got page 1", 3),
        (lying_last_page, "last_page keeps growing", 2 * 2 + PAGE_GROWTH_ALLOWANCE),
    ],
    indirect=["raw"],
    ids=["stuck", "going-back", "lying-last-page"],
)
def test_pagination_must_advance(raw: RawServer, monkeypatch: pytest.MonkeyPatch, message: str, requests: int) -> None:
    _use(monkeypatch, raw, deadline=10)
    with pytest.raises(WapiFlowServerError, match=message) as caught:
        list(WapiFlowHook().iter_conversations())
    assert "GET inbox/conversation-list" in str(caught.value)
    assert len(raw.requests) == requests


@pytest.mark.parametrize("raw", [stuck, lying_last_page], indirect=True, ids=["stuck", "lying-last-page"])
async def test_async_pagination_must_advance(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, raw, deadline=10)
    async with WapiFlowAsyncHook() as hook:
        with pytest.raises(WapiFlowServerError, match="pagination of GET inbox/conversation-list does not advance"):
            [c async for c in hook.iter_conversations()]
    assert len(raw.requests) <= 2 * 2 + PAGE_GROWTH_ALLOWANCE


async def test_get_template_reads_the_same_pages_in_both_hooks(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    for i in range(250):
        sim.add_template(f"bulk_{i:03d}", "Hello")
    first = next(t for t in sim.templates() if t["name"] == "order_shipped")
    counts: dict[str, list[int]] = {"sync": [], "async": []}
    hook = WapiFlowHook()
    for choice in (first["id"], "bulk_249"):
        before = sim.request_count()
        hook.get_template(choice)
        counts["sync"].append(sim.request_count() - before)
    async with WapiFlowAsyncHook() as async_hook:
        for choice in (first["id"], "bulk_249"):
            before = sim.request_count()
            await async_hook.get_template(choice)
            counts["async"].append(sim.request_count() - before)
    assert counts["sync"] == counts["async"] == [1, 3]  # an id stops at its page; a name reads every page


# --- 13.3: success envelopes with data of the wrong shape ---------------------------------------------

SHAPES = [
    ("data is a list", {"remark": "x", "status": "success", "data": []}),
    ("data is null", {"remark": "x", "status": "success", "data": None}),
    ("data is a string", {"remark": "x", "status": "success", "data": "contacts"}),
    ("no data", {"remark": "x", "status": "success"}),
    ("key missing", {"remark": "x", "status": "success", "data": {"other": {}}}),
    ("paginator is a list", {"remark": "x", "status": "success", "data": {"contacts": [], "conversation": [],
                                                                          "templates": [], "contact": []}}),
    ("page data is a dict", {"remark": "x", "status": "success", "data": {
        k: {"current_page": 1, "data": {"id": 1}, "last_page": 1} for k in ("contacts", "conversation", "templates")}}),
    ("page number is a string", {"remark": "x", "status": "success", "data": {
        k: {"current_page": "1", "data": [], "last_page": 1} for k in ("contacts", "conversation", "templates")}}),
    ("item is a string", {"remark": "x", "status": "success", "data": {
        k: {"current_page": 1, "data": ["x"], "last_page": 1} for k in ("contacts", "conversation", "templates")}}),
]  # fmt: skip

CALLS = [
    ("GET contact/list", "contacts", lambda hook: hook.list_contacts()),
    ("GET contact/list", "contacts", lambda hook: list(hook.iter_contacts())),
    ("GET inbox/conversation-list", "conversation", lambda hook: hook.list_conversations()),
    ("GET inbox/conversation-list", "conversation", lambda hook: list(hook.iter_conversations())),
    ("GET inbox/conversation-details/1", "conversation", lambda hook: hook.get_conversation(1)),
    ("GET inbox/template-list", "templates", lambda hook: hook.list_templates()),
    ("GET inbox/template-list", "templates", lambda hook: hook.get_template("welcome")),
    ("POST contact/store", "contact", lambda hook: hook.create_contact("Ana", "Ruiz", *SPAIN)),
]


@pytest.mark.parametrize(("shape", "body"), SHAPES, ids=[s[0] for s in SHAPES])
def test_a_wrong_shape_is_a_server_error_naming_route_and_key(
    wapiflow_connection: WapiFlowSimulator, shape: str, body: dict[str, Any]
) -> None:
    sim = wapiflow_connection
    hook = WapiFlowHook()
    for route, key, call in CALLS:
        paginated = key != "contact" and not route.startswith("GET inbox/conversation-details")
        if shape.startswith(("page", "item")) and not paginated:
            continue
        sim.clear_faults()
        sim.inject("error", status=200, body=json.dumps(body))
        with pytest.raises(WapiFlowServerError) as caught:
            call(hook)
        text = str(caught.value)
        assert route in text, (shape, route, text)
        assert key in text or "data is" in text, (shape, route, text)


async def test_the_async_hook_checks_shapes_too(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.inject("error", status=200, body=json.dumps({"remark": "x", "status": "success", "data": {"conversation": []}}))
    async with WapiFlowAsyncHook() as hook:
        for call in (hook.list_conversations(), hook.get_conversation(1), hook.list_templates()):
            with pytest.raises(WapiFlowServerError, match="with success, but"):
                await call
        with pytest.raises(WapiFlowServerError, match="with success, but"):
            [c async for c in hook.iter_conversations()]


def test_a_send_success_with_odd_data_is_sent(wapiflow_connection: WapiFlowSimulator) -> None:
    sim = wapiflow_connection
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject("error", status=200, process=True, times=1, path="inbox/send-message",
               body=json.dumps({"remark": "success", "status": "success", "data": ["odd"]}))  # fmt: skip
    assert WapiFlowHook().send_message(*SPAIN, message="hello") == {}
    assert len(sim.messages(direction="sent")) == 1


# --- server_now: WapiFlow's clock from the Date header ----------------------------------------------


def skewed_clock(exchange: Exchange) -> None:
    exchange.answer(200, BODY, headers={"Date": formatdate(time.time() + 3600, usegmt=True)})


@pytest.mark.parametrize("raw", [skewed_clock], indirect=True)
def test_server_now_follows_wapiflows_clock(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, raw)
    hook = WapiFlowHook()
    before = hook.server_now() - datetime.now(timezone.utc)
    assert abs(before.total_seconds()) < 1  # no answer yet: the worker's clock
    hook.list_templates()
    offset = (hook.server_now() - datetime.now(timezone.utc)).total_seconds()
    assert 3599 <= offset <= 3601.5


@pytest.mark.parametrize("raw", [skewed_clock], indirect=True)
async def test_async_server_now_follows_wapiflows_clock(raw: RawServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, raw)
    async with WapiFlowAsyncHook() as hook:
        await hook.list_templates()
        offset = (hook.server_now() - datetime.now(timezone.utc)).total_seconds()
    assert 3599 <= offset <= 3601.5


def test_server_now_against_the_simulator(wapiflow_connection: WapiFlowSimulator) -> None:
    hook = WapiFlowHook()
    hook.list_templates()
    assert hook._clock.offset is not None  # the simulator's answers carry a Date
    assert abs((hook.server_now() - datetime.now(timezone.utc)).total_seconds()) <= 1.5


def test_the_clock_rounds_up_and_narrows() -> None:
    clock = ServerClock()
    date = "Thu, 03 Dec 2026 10:00:00 GMT"
    at = datetime(2026, 12, 3, 10, 0, 0, tzinfo=timezone.utc).timestamp()
    clock.observe({"Date": date}, received=at + 0.3)  # server time in [10:00:00, 10:00:01)
    assert clock.offset == pytest.approx(0.7)  # the upper bound: never earlier than WapiFlow's clock
    clock.observe({"Date": "Thu, 03 Dec 2026 10:00:01 GMT"}, received=at + 0.9)
    assert clock.offset == pytest.approx(0.7)  # [0.1, 1.1) ∩ [-0.3, 0.7) = [0.1, 0.7)
    clock.observe({"date": "Thu, 03 Dec 2026 11:00:00 GMT"}, received=at + 1.0)
    assert clock.offset == pytest.approx(3600.0)  # a clock was set: start again
    clock.observe({"Date": "not a date"}, received=at)
    assert clock.offset == pytest.approx(3600.0)


def test_server_now_error_path_still_learns_the_clock(wapiflow_connection: WapiFlowSimulator) -> None:
    hook = WapiFlowHook()
    with pytest.raises(WapiFlowError):
        hook.get_conversation(999)
    assert hook._clock.offset is not None
    assert abs(hook.server_now() - datetime.now(timezone.utc)) < timedelta(seconds=2)
