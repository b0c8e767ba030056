"""Fault injection and the request log: a raw ASGI middleware in front of the simulated API.

Faults model what sits between a client and WapiFlow: a proxy answering 5xx or an HTML page, a 429,
a slow server, a connection lost *before* the request reached the server (nothing happened) or
*after* it was processed (it happened, the answer was lost). No Starlette/uvicorn import here: this
module is imported with the package.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_KINDS = ("error", "html", "drop", "delay")
API_PREFIX = "external-api/"
TOO_MANY_ATTEMPTS = b'{"message":"Too Many Attempts."}'
LOG_ENTRY_SCOPE_KEY = "wapiflow.log_entry"
"""The log entry travels to the app in the ASGI scope; the app adds the remark and the parsed input."""


def api_path(path: str) -> str:
    """``/external-api/contact/list`` → ``contact/list``; other paths keep their leading slash."""
    stripped = path.lstrip("/")
    if stripped.startswith(API_PREFIX):
        return stripped[len(API_PREFIX) :]
    return "/" + stripped


@dataclass(eq=False)
class Fault:
    """One injection rule, as returned by ``WapiFlowSimulator.inject``.

    It matches requests by ``method`` (any when None) and ``path`` prefix (relative to
    ``/external-api/``, any when None), and fires for the next ``times`` matching requests, or with
    ``probability`` each (a seeded RNG), or on every match when neither is given. ``fired`` counts
    the requests it hit.
    """

    kind: str
    times: int | None = None
    probability: float | None = None
    method: str | None = None
    path: str | None = None
    status: int = 503
    retry_after: float | str | None = None
    seconds: float = 0.0
    process: bool = False
    body: str | bytes | None = None
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if self.path is not None:
            self.path = api_path(self.path).lstrip("/")

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path is None or path.lstrip("/").startswith(self.path)


class FaultRegistry:
    """The active faults, checked in order; the first one that fires wins."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def pick(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not fault.matches(method, path):
                    continue
                if fault.probability is not None and self._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                return fault
            return None


class Throttle:
    """Answers 429 before processing: a storm (everything, for a while) or a rate limit (a sliding
    one-second window; refused requests do not count, as in Laravel's throttle)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._storm_until = 0.0
        self._storm_retry_after = 1.0
        self._per_second: int | None = None
        self._rate_retry_after: float | None = None
        self._hits: deque[float] = deque()

    def storm(self, seconds: float, retry_after: float = 1.0) -> None:
        if seconds < 0 or retry_after < 0:
            raise ValueError("seconds and retry_after must not be negative")
        with self._lock:
            self._storm_until = time.monotonic() + seconds
            self._storm_retry_after = retry_after

    @property
    def storming(self) -> bool:
        with self._lock:
            return time.monotonic() < self._storm_until

    def rate_limit(self, per_second: int | None, retry_after: float | None = None) -> None:
        if per_second is not None and (isinstance(per_second, bool) or int(per_second) != per_second or per_second < 1):
            raise ValueError("per_second must be a positive integer or None")
        with self._lock:
            self._per_second = int(per_second) if per_second is not None else None
            self._rate_retry_after = retry_after
            self._hits.clear()

    @property
    def per_second(self) -> int | None:
        return self._per_second

    def clear(self) -> None:
        with self._lock:
            self._storm_until = 0.0
            self._per_second = None
            self._hits.clear()

    def check(self, now: float) -> tuple[str, float] | None:
        """``(fault name, Retry-After seconds)`` when the request arriving at ``now`` is refused, else None."""
        with self._lock:
            if now < self._storm_until:
                return "storm", self._storm_retry_after
            if self._per_second is None:
                return None
            while self._hits and self._hits[0] <= now - 1.0:
                self._hits.popleft()
            if len(self._hits) >= self._per_second:
                wait = self._hits[0] + 1.0 - now  # until the oldest request leaves the window
                if self._rate_retry_after is not None:
                    return "rate_limit", self._rate_retry_after
                return "rate_limit", round(max(wait, 0.001), 3)
            self._hits.append(now)
            return None


class RequestLog:
    """Every request the simulator saw, in arrival order (entries are filled in as the request runs)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def start(self, method: str, path: str, query: dict[str, str]) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": query,
            "status": None,
            "remark": None,
            "fault": None,
            "processed": False,
            "input": None,
        }
        with self._lock:
            self._entries.append(entry)
        return entry

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class FaultMiddleware:
    """Reads the whole request, logs it, adds latency, then answers, fails or drops as the faults say.

    With ``latency_includes_processing()`` true, a request without a fault is processed at once and its
    answer leaves ``latency`` seconds after the request arrived, so that the simulator's own (serial)
    processing time is hidden in the latency, as a real server's parallel workers hide theirs.
    """

    def __init__(
        self,
        app: ASGIApp,
        faults: FaultRegistry,
        log: RequestLog,
        latency: Callable[[], float],
        latency_includes_processing: Callable[[], bool] = lambda: False,
        throttle: Throttle | None = None,
    ) -> None:
        self.app = app
        self.faults = faults
        self.throttle = throttle if throttle is not None else Throttle()
        self.log = log
        self.latency = latency
        self.latency_includes_processing = latency_includes_processing
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sleepers: set[asyncio.Future[bool]] = set()
        self._closed = False

    def close(self) -> None:
        """Wake every sleeping request so that the server can stop now (thread-safe)."""
        self._closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop stopped in the meantime
                loop.call_soon_threadsafe(self._wake_sleepers)

    def _wake_sleepers(self) -> None:
        for sleeper in self._sleepers:
            if not sleeper.done():
                sleeper.set_result(False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()

        arrived = time.monotonic()
        body = await _read_body(receive)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        entry = self.log.start(scope["method"], api_path(scope["path"]), query)
        scope[LOG_ENTRY_SCOPE_KEY] = entry
        latency = self.latency()
        limited = self.throttle.check(arrived)
        if limited is not None:  # a throttle answers before the request reaches the app
            entry["fault"] = limited[0]
            if latency > 0 and not await self._sleep(latency):
                await _abort(receive)
                return
            limit = self.throttle.per_second if limited[0] == "rate_limit" else None
            await _send_too_many(limited[1], limit, _recording(send, entry))
            return
        fault = self.faults.pick(scope["method"], entry["path"])
        entry["fault"] = fault.kind if fault else None
        replay = _replay(body, receive)

        if fault is None and latency > 0 and self.latency_includes_processing():
            held: list[Message] = []
            await self._process(scope, replay, _holding(held), entry)
            remaining = arrived + latency - time.monotonic()
            if remaining > 0 and not await self._sleep(remaining):
                await _abort(receive)
                return
            recording = _recording(send, entry)
            for message in held:
                await recording(message)
            return
        if latency > 0 and not await self._sleep(latency):
            await _abort(receive)
            return

        if fault is None:
            await self._process(scope, replay, _recording(send, entry), entry)
        elif fault.kind == "delay":
            if fault.process:  # processed at once, the answer held back
                held = []
                await self._process(scope, replay, _holding(held), entry)
                if not await self._sleep(fault.seconds):
                    await _abort(receive)
                    return
                recording = _recording(send, entry)
                for message in held:
                    await recording(message)
            else:  # a slow server: it starts working late
                if not await self._sleep(fault.seconds):
                    await _abort(receive)
                    return
                await self._process(scope, replay, _recording(send, entry), entry)
        elif fault.kind in ("error", "html"):
            if fault.process:
                await self._process(scope, replay, _discard, entry)
            await _send_fault_answer(fault, _recording(send, entry))
        else:  # drop
            if fault.process:
                await self._process(scope, replay, _discard, entry)
            entry["status"] = None
            await _abort(receive)

    async def _process(self, scope: Scope, receive: Receive, send: Send, entry: dict[str, Any]) -> None:
        entry["processed"] = True
        await self.app(scope, receive, send)

    async def _sleep(self, seconds: float) -> bool:
        """Sleep without blocking other requests; False when the server is stopping."""
        if self._closed or self._loop is None:
            return not self._closed
        # A future and a timer, not wait_for(): one sleep per request, and wait_for's task, timeout
        # and cancellation cost more CPU than the request's processing.
        sleeper: asyncio.Future[bool] = self._loop.create_future()
        timer = self._loop.call_later(seconds, _wake, sleeper)
        self._sleepers.add(sleeper)
        try:
            return await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)


def _wake(sleeper: asyncio.Future[bool]) -> None:
    if not sleeper.done():
        sleeper.set_result(True)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body to the app, then defers to the server's."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _recording(send: Send, entry: dict[str, Any]) -> Send:
    async def recording(message: Message) -> None:
        if message["type"] == "http.response.start":
            entry["status"] = message["status"]
        await send(message)

    return recording


def _holding(held: list[Message]) -> Send:
    async def hold(message: Message) -> None:
        held.append(message)

    return hold


async def _discard(message: Message) -> None:
    """The app's answer to a request whose answer a fault replaces or loses."""


async def _send_fault_answer(fault: Fault, send: Send) -> None:
    if fault.kind == "html":
        status = fault.status
        phrase = _phrase(status)
        body = (
            fault.body
            if fault.body is not None
            else (
                f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
                f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            )
        )
        content_type = b"text/html"
    else:
        status = fault.status
        message = "Too Many Attempts." if status == 429 else _phrase(status)
        body = fault.body if fault.body is not None else '{"message":"' + message + '"}'
        content_type = b"application/json" if fault.body is None else b"text/plain; charset=utf-8"
    data = body.encode() if isinstance(body, str) else body
    headers = [(b"content-type", content_type), (b"content-length", str(len(data)).encode())]
    if fault.retry_after is not None:
        headers.append((b"retry-after", _retry_after(fault.retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def _send_too_many(retry_after: float, limit: int | None, send: Send) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(TOO_MANY_ATTEMPTS)).encode()),
        (b"retry-after", _retry_after(float(retry_after)).encode()),
    ]
    if limit is not None:
        headers += [(b"x-ratelimit-limit", str(limit).encode()), (b"x-ratelimit-remaining", b"0")]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": TOO_MANY_ATTEMPTS})


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _retry_after(value: float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


async def _abort(receive: Receive) -> None:
    """Close the TCP connection without an answer (uvicorn's ``receive`` is bound to its request cycle)."""
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("dropping a connection needs uvicorn's receive callable")
    transport.abort()
    # Wait until uvicorn has seen the connection go, so it does not try to answer with a 500.
    try:
        await asyncio.wait_for(receive(), timeout=1.0)
    except asyncio.TimeoutError:
        logger.debug("no disconnect event after abort")
