"""How a send ends at WapiFlow's call to Meta, and what reached the customer's phone.

``SendOutcome`` rules (``WapiFlowSimulator.inject_send_outcome``) make the next sends end at one of the
throw sites of the two send paths, with the exact text the real server answers and
its side effects: whether Meta delivered, whether the message row is stored, whether the
conversation's ``last_message_at`` moves. ``DeliveryLog`` is the customer's side: every message that
reached a phone, whether or not WapiFlow stored it. No Starlette import here.
"""

from __future__ import annotations

import copy
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

SEND_ROUTES = ("text", "template")

CURL_DOCS = "(see https://curl.haxx.se/libcurl/c/libcurl-errors.html)"
CURL_TEXTS = {
    "curl_6": "cURL error 6: Could not resolve host: graph.facebook.com",
    "curl_7": "cURL error 7: Failed to connect to graph.facebook.com port 443 after 3 ms: Connection refused",
    "curl_28": "cURL error 28: Operation timed out after 30001 milliseconds with 0 bytes received",
    "curl_52": "cURL error 52: Empty reply from server",
    "curl_56": "cURL error 56: Recv failure: Connection reset by peer",
}
# Meta's refusals: a template send answers error_data.details, a text send error.message with its code.
META_REJECTION = {
    "template": "body: number of localizable_params (1) does not match the expected number of params (2)",
    "text": "(#131009) Parameter value is not valid",
}
META_RATE_LIMIT = {
    "template": (
        "Message failed to send because there were too many messages sent from this phone number in a short "
        "period of time"
    ),
    "text": "(#130429) Rate limit hit",
}
MESSAGE_SENDING_FAILED = "Message sending failed"
SOMETHING_WENT_WRONG = "Something went wrong"
UNDEFINED_ARRAY_KEY = 'Undefined array key "messages"'
SQL_LOCK_WAIT = "SQLSTATE[HY000]: General error: 1205 Lock wait timeout exceeded; try restarting transaction"
SERVER_ERROR_JSON = '{"message":"Server Error"}'

# kind -> what ``delivered`` may be: None = either (default True), else forced.
_FORCED_DELIVERY: dict[str, bool | None] = {
    "curl_6": False,
    "curl_7": False,
    "curl_28": None,
    "curl_52": None,
    "curl_56": None,
    "meta_rejection": False,
    "meta_rate_limit": False,
    "message_sending_failed": None,
    "something_went_wrong": None,
    "undefined_array_key": None,
    "messages_insert_sql": True,
    "conversation_update_sql": True,
    "php_500": None,
    "php_error_html": None,
}
SEND_OUTCOME_KINDS = tuple(_FORCED_DELIVERY)
AFTER_META_ACCEPTED = ("messages_insert_sql", "conversation_update_sql")
"""Kinds where Meta accepted the message and the server failed while storing it."""
HTTP_500_KINDS = ("php_500", "php_error_html")


@dataclass(eq=False)
class SendOutcome:
    """One rule of ``inject_send_outcome``: of the next sends on ``route`` (None = both) that reach the
    call to Meta, the first ``after`` go through, the ``times`` after them end as ``kind`` says.

    ``times=None`` fires on every matching send; with ``probability`` each matching send is hit with
    that chance (a seeded RNG), still at most ``times``. ``delivered`` is whether Meta delivered to the
    phone; it is forced for kinds where only one is possible and defaults to True (the case a retry
    must not repeat) where both are. ``delay`` holds the answer back that many seconds (e.g. 30 for a
    real ``curl_28``). ``fired`` counts the sends hit.
    """

    kind: str
    delivered: bool | None = None
    times: int | None = 1
    after: int = 0
    route: str | None = None
    delay: float = 0.0
    probability: float | None = None
    fired: int = field(default=0, init=False)
    passed: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.kind not in _FORCED_DELIVERY:
            raise ValueError(f"unknown send outcome {self.kind!r}; expected one of {SEND_OUTCOME_KINDS}")
        if self.route not in (None, *SEND_ROUTES):
            raise ValueError(f"route must be None, 'text' or 'template', not {self.route!r}")
        if (self.times is not None and self.times < 1) or self.after < 0 or self.delay < 0:
            raise ValueError("times must be at least 1 (or None), after and delay must not be negative")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        forced = _FORCED_DELIVERY[self.kind]
        if forced is not None:
            self.delivered = forced
        elif self.delivered is None:
            self.delivered = True

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    @property
    def meta_accepted(self) -> bool:
        """Meta took the message and the server broke while storing it (the answer proves *sent*)."""
        return self.kind in AFTER_META_ACCEPTED

    def text(self, route: str, url: str, token: str) -> str:
        """The ``exception`` text the real server answers on ``route`` (not for the SQL and 500 kinds)."""
        if self.kind in CURL_TEXTS:
            # The template path logs the Graph URL with the token in its query string
            # (docs/server-bugs.rst#bug-meta-outage).
            where = f"{url}?access_token={token}" if route == "template" else url
            return f"{CURL_TEXTS[self.kind]} {CURL_DOCS} for {where}"
        if self.kind == "meta_rejection":
            return META_REJECTION[route]
        if self.kind == "meta_rate_limit":
            return META_RATE_LIMIT[route]
        if self.kind == "message_sending_failed":
            return MESSAGE_SENDING_FAILED
        if self.kind == "something_went_wrong":
            return SOMETHING_WENT_WRONG
        if self.kind == "undefined_array_key":
            return UNDEFINED_ARRAY_KEY
        raise ValueError(f"{self.kind} has no exception text")


class SendOutcomeRegistry:
    """The active send-outcome rules, checked in order at each send's call to Meta."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rules: list[SendOutcome] = []
        self._rng = random.Random(seed)

    def add(self, rule: SendOutcome) -> SendOutcome:
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule: SendOutcome) -> None:
        with self._lock:
            if rule in self._rules:
                self._rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def active(self) -> list[SendOutcome]:
        with self._lock:
            return [r for r in self._rules if not r.exhausted]

    def pick(self, route: str) -> SendOutcome | None:
        """The rule this send (now calling Meta) ends with; each matching rule counts the send."""
        with self._lock:
            chosen: SendOutcome | None = None
            for rule in self._rules:
                if rule.exhausted or (rule.route is not None and rule.route != route):
                    continue
                if rule.passed < rule.after:
                    rule.passed += 1
                    continue
                if chosen is None and (rule.probability is None or self._rng.random() < rule.probability):
                    rule.fired += 1
                    chosen = rule
            return chosen


def sql_messages_insert(columns: dict[str, Any]) -> str:
    """Laravel's ``QueryException`` text for the failed message insert (bindings inlined, as Laravel 11 does)."""
    names = ", ".join(f"`{name}`" for name in columns)
    values = ", ".join("null" if v is None else str(v) for v in columns.values())
    return f"{SQL_LOCK_WAIT} (Connection: mysql, SQL: insert into `messages` ({names}) values ({values}))"


def sql_conversation_update(conversation_id: int, now: datetime) -> str:
    ts = now.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"{SQL_LOCK_WAIT} (Connection: mysql, SQL: update `conversations` set `last_message_at` = {ts}, "
        f"`conversations`.`updated_at` = {ts} where `id` = {conversation_id})"
    )


class DeliveryLog:
    """What reached customers' phones, in order: the customer's side, apart from WapiFlow's messages table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(
        self,
        mobile_code: str,
        mobile: str,
        *,
        kind: str,
        route: str,
        outcome: str,
        body: str | None = None,
        template_id: int | None = None,
        message_id: int | None = None,
        whatsapp_message_id: str | None = None,
        location: dict[str, Any] | None = None,
    ) -> None:
        # Called on every send: no copy of the entry is returned (snapshot() copies what it hands out).
        entry: dict[str, Any] = {
            "mobile_code": mobile_code,
            "mobile": mobile,
            "e164": f"+{mobile_code}{mobile}",
            "kind": kind,
            "template_id": template_id,
            "body": body,
            "location": copy.deepcopy(location),
            "route": route,
            "outcome": outcome,
            "stored": message_id is not None,
            "message_id": message_id,
            "whatsapp_message_id": whatsapp_message_id,
            "at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        with self._lock:
            self._entries.append(entry)

    def snapshot(self, mobile_code: str | None = None, mobile: str | None = None) -> list[dict[str, Any]]:
        """Copies, arrival order; ``mobile`` matches the national number, code + number or E.164."""
        wanted = str(mobile).lstrip("+") if mobile is not None else None
        code = str(mobile_code).lstrip("+") if mobile_code is not None else None
        with self._lock:
            return [
                copy.deepcopy(e)
                for e in self._entries
                if (code is None or e["mobile_code"] == code)
                and (wanted is None or wanted in (e["mobile"], e["mobile_code"] + e["mobile"]))
            ]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(Counter(e["e164"] for e in self._entries))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
