"""The simulator's admin endpoints under ``/_simulator/``: make a customer reply, read what reached phones.

They stand for things that happen outside the API (a customer answering on WhatsApp), so a DAG with a
sensor can finish under ``airflow standalone``. The path cannot collide with WapiFlow's routes (all
under ``/external-api/``); admin requests bypass faults, throttles and the request log. No auth: the
simulator listens on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

ADMIN_PREFIX = "/_simulator/"


def _answer(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, media_type="application/json")


class AdminApp:
    """Serves ``/_simulator/*`` itself and passes every other request to ``app``.

    ``reply(mobile_code, mobile, text)``, ``deliveries()``, ``messages()`` and ``number_of(digits)`` (the
    contact's ``(mobile_code, mobile)`` for an E.164 number without ``+``) are the simulator's own methods.
    """

    def __init__(
        self,
        app: ASGIApp,
        reply: Callable[[str, str, str], dict[str, Any]],
        deliveries: Callable[[], list[dict[str, Any]]],
        messages: Callable[[], list[dict[str, Any]]],
        number_of: Callable[[str], tuple[str, str] | None],
    ) -> None:
        self.app = app
        self.reply = reply
        self.deliveries = deliveries
        self.messages = messages
        self.number_of = number_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self.dispatch(request, scope["path"][len(ADMIN_PREFIX) :].strip("/"))
        await response(scope, receive, send)

    async def dispatch(self, request: Request, action: str) -> Response:
        if action == "reply" and request.method == "POST":
            return await self.customer_reply(request)
        if action == "deliveries" and request.method == "GET":
            return _answer({"deliveries": self.deliveries()})
        if action == "messages" and request.method == "GET":
            return _answer({"messages": self.messages()})
        return _answer(
            {
                "error": f"unknown admin call {request.method} {request.url.path}; use POST /_simulator/reply, "
                "GET /_simulator/deliveries or GET /_simulator/messages"
            },
            404,
        )

    async def customer_reply(self, request: Request) -> Response:
        """``POST /_simulator/reply`` with ``mobile_code``, ``mobile`` (or ``phone``, E.164) and ``text``."""
        fields = await _fields(request)
        code, mobile = fields.get("mobile_code"), fields.get("mobile")
        phone = fields.get("phone")
        if phone and not (code or mobile):
            digits = str(phone).strip().lstrip("+")
            if not digits.isdigit():
                return _answer({"error": f"'phone' must be an E.164 number such as +34600111222, got {phone!r}"}, 400)
            number = self.number_of(digits)
            if number is None:
                return _answer({"error": f"+{digits} is not a contact"}, 404)
            code, mobile = number
        if not code or not mobile:
            return _answer({"error": "give mobile_code and mobile (or phone, in E.164 form)"}, 400)
        text = str(fields.get("text") or "Yes")
        try:
            conversation = self.reply(str(code).lstrip("+"), str(mobile), text)
        except ValueError as exc:  # not a contact, or blocked
            return _answer({"error": str(exc)}, 404)
        return _answer({"status": "ok", "conversation": conversation})


async def _fields(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}
    form = await request.form()
    fields: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    fields.update({k: v for k, v in request.query_params.items() if k not in fields})
    return fields
