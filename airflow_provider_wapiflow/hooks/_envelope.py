"""
Turn WapiFlow's answers into data or typed errors (shared by the sync and async hooks).

WapiFlow answers most errors with HTTP 200 and ``"status": "error"`` (reference §1.5), and several of
its ``exception`` texts are known server bugs with a precise meaning (§7.2). This module is the one
place that reads them, so that every caller gets data, or an error that says whether a send went out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_wapiflow.exceptions import (
    SendOutcome,
    WapiFlowAuthError,
    WapiFlowConnectionError,
    WapiFlowError,
    WapiFlowIPNotAllowedError,
    WapiFlowMetaError,
    WapiFlowNotAContactError,
    WapiFlowNotFoundError,
    WapiFlowPlanError,
    WapiFlowRateLimitError,
    WapiFlowServerError,
    WapiFlowValidationError,
    redact,
)
from airflow_provider_wapiflow.hooks._requests import ApiRequest

#: The exact answer of a successful template send on the real server (reference §7.2.3).
POST_SEND_EXCEPTION = "Undefined variable $conversationId"

_NOT_A_CONTACT = re.compile(r"SQLSTATE\[23000\].*'contact_id' cannot be null", re.DOTALL)
_CONTACT_SEARCH_BUG = re.compile(r"SQLSTATE\[42S22\].*Unknown column 'email'", re.DOTALL)
_META_UNREACHABLE = re.compile(r"^cURL error \d+:")
_META_REJECTION = re.compile(r"^\(#\d+\)")
_WRONG_METHOD = re.compile(r"^The \w+ method is not supported for route")
_IP_IN_MESSAGE = re.compile(r"\(([^()]*)\)")

_REMARK_ERRORS: dict[str, type[WapiFlowError]] = {
    "validation_error": WapiFlowValidationError,
    "contact_error": WapiFlowValidationError,
    "not_found": WapiFlowNotFoundError,
    "unknown_contact": WapiFlowNotFoundError,
    "subscription_required": WapiFlowPlanError,
    "not_available": WapiFlowPlanError,
    "contact_limit_error": WapiFlowPlanError,
    "user_error": WapiFlowAuthError,
    "Unauthorized": WapiFlowAuthError,
}


@dataclass(frozen=True)
class Answer:
    """What came back for a request: the parts the envelope logic needs, transport-independent."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def _mark_transient(error: WapiFlowError) -> WapiFlowError:
    error.retryable = True
    return error


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Read ``Retry-After`` as seconds or as an HTTP date."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import datetime, timezone

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def _joined(messages: list[str]) -> str:
    return " ".join(m.strip() for m in messages if m.strip()) or "(no message)"


def _parse_json(request: ApiRequest, answer: Answer) -> Mapping[str, Any]:
    try:
        envelope = json.loads(answer.body)
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict) or "status" not in envelope:
        snippet = answer.body[:120].decode("utf-8", "replace").strip().replace("\n", " ")
        outcome = SendOutcome.NOT_SENT if answer.status in (429, 503) else None
        raise _mark_transient(
            WapiFlowServerError(
                f"WapiFlow answered {request.describe()} with HTTP {answer.status} and a body that is not "
                f"WapiFlow JSON (a proxy or gateway page?): {redact(snippet)!r}",
                status_code=answer.status,
                outcome=outcome,
            )
        )
    return envelope


def _messages(envelope: Mapping[str, Any]) -> list[str]:
    raw = envelope.get("message") or []
    if isinstance(raw, str):
        raw = [raw]
    return [redact(str(m)) for m in raw]


def _auth_error(request: ApiRequest, answer: Answer, envelope: Mapping[str, Any] | None) -> WapiFlowError:
    messages = _messages(envelope) if envelope else []
    text = _joined(messages)
    if "whitelist" in text.lower() or "white list" in text.lower():
        match = _IP_IN_MESSAGE.search(" ".join(messages))
        ip = match.group(1) if match else None
        where = f"IP address {ip}" if ip else "the public IP address of your Airflow workers"
        return WapiFlowIPNotAllowedError(
            f"WapiFlow refused {request.describe()}: {where} is not on the API whitelist. Add {where} to "
            "the whitelist in WapiFlow's user dashboard (API settings); every worker, triggerer and "
            "API server that calls WapiFlow needs its egress IP listed.",
            ip=ip,
            remark="Unauthorized",
            messages=messages,
            status_code=401,
        )
    return WapiFlowAuthError(
        f"WapiFlow refused the credentials for {request.describe()} ({text.rstrip('.')}). Check the "
        "connection's Client ID and Client Secret.",
        remark="Unauthorized",
        messages=messages,
        status_code=401,
    )


def _exception_error(request: ApiRequest, messages: list[str], status: int) -> WapiFlowError:
    """Classify a ``remark: exception`` answer (reference §7.2)."""
    text = _joined(messages)
    common: dict[str, Any] = {"remark": "exception", "messages": messages, "status_code": status}
    if _NOT_A_CONTACT.search(text):
        return WapiFlowNotAContactError(
            f"{request.describe()}: the number is not a WapiFlow contact, so nothing was sent. Create the "
            "contact first (create_contact / UpsertContactsOperator), then send. WapiFlow's documented "
            "auto-create of new numbers does not work on the server.",
            **common,
        )
    if _CONTACT_SEARCH_BUG.search(text):
        return WapiFlowServerError(
            "WapiFlow's contact search is broken on the server (it queries a contacts.email column that "
            "does not exist), so contact/list with 'search' always fails. List contacts without "
            "'search' and filter them yourself.",
            outcome=SendOutcome.NOT_SENT,
            **common,
        )
    if _META_UNREACHABLE.search(text):
        return WapiFlowMetaError(
            f"{request.describe()}: WapiFlow could not reach Meta's WhatsApp API, nothing was sent: {text}",
            transient=True,
            **common,
        )
    if _META_REJECTION.search(text):
        return WapiFlowMetaError(
            f"{request.describe()}: Meta rejected the message, nothing was sent: {text}",
            transient=False,
            **common,
        )
    if _WRONG_METHOD.search(text):
        return WapiFlowNotFoundError(f"{request.describe()}: {text}", outcome=SendOutcome.NOT_SENT, **common)
    outcome = SendOutcome.UNKNOWN if request.method != "GET" else SendOutcome.NOT_SENT
    sent_note = " The message may have been sent." if request.is_send else ""
    return WapiFlowServerError(f"WapiFlow failed on {request.describe()}: {text}{sent_note}", outcome=outcome, **common)


def unwrap(request: ApiRequest, answer: Answer) -> dict[str, Any]:
    """
    Return the envelope's ``data`` (``{}`` when absent), or raise the matching :class:`WapiFlowError`.

    A template send answered with the known post-send exception returns ``{"conversation_id": None}``
    and ``{"_post_send_exception": True}`` so the hook can log it once.
    """
    status = answer.status
    if status == 401:
        try:
            envelope: Mapping[str, Any] | None = json.loads(answer.body)
        except ValueError:
            envelope = None
        raise _auth_error(request, answer, envelope if isinstance(envelope, dict) else None)
    if 300 <= status < 400:
        location = answer.headers.get("location") or answer.headers.get("Location") or ""
        if "maintenance" in location:
            message = f"WapiFlow is in maintenance mode ({request.describe()} redirected to {location})"
        else:
            message = f"WapiFlow redirected {request.describe()} to {location!r}: check the connection's Base URL"
        # A redirect happens before WapiFlow runs the request: nothing was processed.
        raise _mark_transient(WapiFlowServerError(message, status_code=status, outcome=SendOutcome.NOT_SENT))
    if status == 429:
        raise _mark_transient(
            WapiFlowRateLimitError(
                f"WapiFlow rate-limited {request.describe()} (HTTP 429)",
                retry_after=retry_after_seconds(answer.headers),
                status_code=429,
            )
        )
    if status >= 500:
        try:
            detail = _joined(_messages(_parse_json(request, answer)))
        except WapiFlowServerError:
            detail = "non-JSON body"
        not_processed = status == 503
        sent_note = " The message may have been sent." if request.is_send and not not_processed else ""
        raise _mark_transient(
            WapiFlowServerError(
                f"WapiFlow answered {request.describe()} with HTTP {status}: {detail}.{sent_note}",
                status_code=status,
                outcome=SendOutcome.NOT_SENT if not_processed else None,
            )
        )
    if status == 404:
        try:
            messages = _messages(_parse_json(request, answer))
        except WapiFlowServerError:
            messages = []
        raise WapiFlowNotFoundError(
            f"No WapiFlow endpoint for {request.describe()} (HTTP 404: {_joined(messages)}). Check the "
            "connection's Base URL: it ends in /external-api (not /extern-api as the vendor's examples say).",
            remark="not_found",
            messages=messages,
            status_code=404,
        )
    envelope = _parse_json(request, answer)
    if envelope.get("status") == "success":
        data = envelope.get("data")
        return dict(data) if isinstance(data, Mapping) else {}
    remark = str(envelope.get("remark") or "")
    messages = _messages(envelope)
    if remark == "exception" and request.path == "inbox/send-template-message" and messages == [POST_SEND_EXCEPTION]:
        return {"conversation_id": None, "_post_send_exception": True}
    if remark == "exception":
        raise _exception_error(request, messages, status)
    error_class = _REMARK_ERRORS.get(remark, WapiFlowError)
    raise error_class(
        f"WapiFlow refused {request.describe()} ({remark or 'error'}): {_joined(messages)}",
        remark=remark,
        messages=messages,
        status_code=status,
        outcome=SendOutcome.NOT_SENT,
    )


def connection_error(request: ApiRequest, error: BaseException, *, connected: bool) -> WapiFlowConnectionError:
    """Wrap a transport failure; ``connected`` says whether the request may have reached WapiFlow."""
    if connected:
        sent_note = " The message may have been sent." if request.is_send else ""
        message = f"{request.describe()}: the answer from WapiFlow was lost ({type(error).__name__}).{sent_note}"
        outcome = SendOutcome.UNKNOWN
    else:
        message = f"{request.describe()}: could not connect to WapiFlow ({type(error).__name__}); nothing was sent"
        outcome = SendOutcome.NOT_SENT
    wrapped = WapiFlowConnectionError(redact(message), outcome=outcome)
    _mark_transient(wrapped)
    return wrapped
