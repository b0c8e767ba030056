"""
Turn WapiFlow's answers into data or typed errors (shared by the sync and async hooks).

WapiFlow answers most errors with HTTP 200 and ``"status": "error"``, and several of its
``exception`` texts are known server bugs with a precise meaning (docs/server-bugs.rst). This module
is the one place that reads them, so that every caller gets data, or an error that says whether a
send went out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

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
from airflow_provider_wapiflow.hooks.endpoints import ApiRequest

#: The exact answer of a successful template send on the real server
#: (docs/server-bugs.rst#bug-post-send-exception).
POST_SEND_EXCEPTION = "Undefined variable $conversationId"

_NOT_A_CONTACT = re.compile(r"SQLSTATE\[23000\].*'contact_id' cannot be null", re.DOTALL)
_CONTACT_SEARCH_BUG = re.compile(r"SQLSTATE\[42S22\].*Unknown column 'email'", re.DOTALL)
_WRONG_METHOD = re.compile(r"^The \w+ method is not supported for route")
_IP_IN_MESSAGE = re.compile(r"\(([^()]*)\)")

# SQL errors after Meta accepted the message. Storing it (or updating the conversation) failed, but
# the customer has it.
_SENT_SQL = (
    re.compile(r"SQLSTATE\[[^\]]*\].*\binsert\s+into\s+[`\"]?messages\b", re.DOTALL | re.IGNORECASE),
    re.compile(
        r"SQLSTATE\[[^\]]*\].*\bupdate\s+[`\"]?conversations\b[`\"]?\s+set\s+[`\"]?last_message_at\b",
        re.DOTALL | re.IGNORECASE,
    ),
)
_CURL = re.compile(r"^\s*cURL error (\d+)\b")
#: libcurl codes (https://curl.se/libcurl/c/libcurl-errors.html) that end the transfer before a byte
#: of the HTTP request left WapiFlow's server, so Meta cannot have got the message:
#:  1 UNSUPPORTED_PROTOCOL, 2 FAILED_INIT, 3 URL_MALFORMAT, 4 NOT_BUILT_IN: refused before connecting;
#:  5 COULDNT_RESOLVE_PROXY, 6 COULDNT_RESOLVE_HOST: no address to connect to;
#:  7 COULDNT_CONNECT: the TCP connection (to Meta or the proxy) failed;
#:  45 INTERFACE_FAILED: the local interface could not be bound, before connecting;
#:  97 PROXY: the proxy handshake failed, before the request is forwarded;
#:  35 SSL_CONNECT_ERROR, 51/60 PEER_FAILED_VERIFICATION, 53/54/66 SSL_ENGINE_*, 58 SSL_CERTPROBLEM,
#:  59 SSL_CIPHER, 64 USE_SSL_FAILED, 77 SSL_CACERT_BADFILE, 82 SSL_CRL_BADFILE, 83 SSL_ISSUER_ERROR,
#:  90 SSL_PINNEDPUBKEYNOTMATCH, 91 SSL_INVALIDCERTSTATUS, 98 SSL_CLIENTCERT: the TLS handshake
#:  failed; HTTP bytes only follow a finished handshake (Guzzle does not enable TLS early data).
#: Everything else is *unknown*: 28 (WapiFlow's own 30 s limit; Meta may have delivered, observed),
#: 52 GOT_NOTHING, 55 SEND_ERROR, 56 RECV_ERROR, 16/92 HTTP2, 18 PARTIAL_FILE, and any code not listed.
CURL_CONNECT_PHASE = frozenset(
    {1, 2, 3, 4, 5, 6, 7, 35, 45, 51, 53, 54, 58, 59, 60, 64, 66, 77, 82, 83, 90, 91, 97, 98}
)
_META_REFUSAL_CODE = re.compile(r"^\s*\(#(\d+)\)")
#: Meta's throughput limits: a refusal (not sent) that a later try may get past.
_META_RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056})
# Texts that say the code broke somewhere, possibly after Meta had the message: *unknown*.
_UNKNOWN_TEXTS = re.compile(
    r"^\s*(?:"
    r"Message sending failed|Something went wrong|Server Error|SQLSTATE\["
    r"|Undefined\b|Attempt to (?:read|assign|modify|increment|decrement) property|Trying to access array offset"
    r"|Trying to get property|Call to (?:a member function|undefined|private|protected|an? )"
    r"|Cannot (?:access|use|redeclare|unset|assign|modify|pass|instantiate|call)|Uninitialized string offset"
    r"|Array to string conversion|Object of class|Unsupported operand types|Division by zero|Modulo by zero"
    r"|Illegal (?:offset|string offset)|Too few arguments|Unknown named parameter|Typed property|Only variables"
    r"|Non-static method|Creation of dynamic property|A non-numeric value|A well formed|Allowed memory size"
    r"|Maximum execution time|syntax error|Class \S+ not found|Interface \S+ not found|Trait \S+ not found"
    r"|(?:Deprecated|Warning|Notice|Fatal error|Parse error):|foreach\(\)|\w+\(\): (?:Argument|Return)"
    r")"
    r"|must be of (?:the )?type\b|\bon line \d+|\.php\b|\bStack trace\b|\bException\b",
    re.IGNORECASE,
)
_TEMPLATE_SEND = "inbox/send-template-message"

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


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """What :func:`unwrap` returns: the envelope's ``data``, and why a send counted as sent despite an error."""

    data: dict[str, Any]
    sent_despite_error: str | None = None
    """The error text that proves the send went out (see docs/server-bugs.rst#bug-post-send-exception);
    the hook logs it and returns :attr:`data`."""


@dataclass(frozen=True)
class Answer:
    """What came back for a request: the parts the envelope logic needs, transport-independent."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    url: str = ""
    """The URL the request went to (to tell WapiFlow's own maintenance redirect from any other)."""


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name."""
    value = headers.get(name)  # a case-insensitive mapping (aiohttp, requests) answers at once
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def _mark_transient(error: WapiFlowError) -> WapiFlowError:
    error.retryable = True
    return error


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Read ``Retry-After`` as seconds or as an HTTP date."""
    value = header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


def server_date(headers: Mapping[str, str]) -> datetime | None:
    """The answer's ``Date`` header (the server's clock, whole seconds), or None."""
    value = header(headers, "date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def _joined(messages: list[str]) -> str:
    return " ".join(m.strip() for m in messages if m.strip()) or "(no message)"


def _snippet(body: bytes) -> str:
    return redact(body[:120].decode("utf-8", "replace").strip().replace("\n", " "))


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _parse_json(request: ApiRequest, answer: Answer) -> Mapping[str, Any]:
    envelope = _load(answer.body)
    if not isinstance(envelope, dict) or "status" not in envelope:
        outcome = SendOutcome.NOT_SENT if answer.status in (429, 503) else None
        raise _mark_transient(
            WapiFlowServerError(
                f"WapiFlow answered {request.describe()} with HTTP {answer.status} and a body that is not "
                f"WapiFlow JSON (a proxy or gateway page?): {_snippet(answer.body)!r}"
                + _may_have_been_sent(request, outcome),
                http_status=answer.status,
                outcome=outcome,
            )
        )
    return envelope


def _may_have_been_sent(request: ApiRequest, outcome: SendOutcome | None = None) -> str:
    if outcome is SendOutcome.NOT_SENT or request.safe:
        return ""
    return " The message may have been sent." if request.is_send else " It may have taken effect."


def _messages(envelope: Mapping[str, Any]) -> list[str]:
    raw = envelope.get("message") or []
    if isinstance(raw, (str, int, float)):
        raw = [raw]
    if not isinstance(raw, list):
        raw = [json.dumps(raw, default=str)]
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
            http_status=401,
        )
    return WapiFlowAuthError(
        f"WapiFlow refused the credentials for {request.describe()} ({text.rstrip('.')}). Check the "
        "connection's Client ID and Client Secret.",
        remark="Unauthorized",
        messages=messages,
        http_status=401,
    )


def send_text_outcome(request: ApiRequest, text: str) -> SendOutcome:
    """
    What an ``exception`` text on a send proves, as the table in docs/guarantees.rst.

    *Not sent* needs positive proof; a text that is not recognised is *unknown*, except on a template
    send, where WapiFlow passes Meta's refusal on as Meta's bare ``error_data.details`` text.
    """
    # The proofs of *sent* first: a failed insert of a text message quotes its body, which may hold any text.
    if any(pattern.search(text) for pattern in _SENT_SQL):
        return SendOutcome.SENT
    if request.path == _TEMPLATE_SEND and text.strip() == POST_SEND_EXCEPTION:
        return SendOutcome.SENT
    if _NOT_A_CONTACT.search(text):
        return SendOutcome.NOT_SENT
    if _WRONG_METHOD.search(text):
        return SendOutcome.NOT_SENT
    curl = _CURL.match(text)
    if curl:
        return SendOutcome.NOT_SENT if int(curl.group(1)) in CURL_CONNECT_PHASE else SendOutcome.UNKNOWN
    if not text.strip() or text == "(no message)" or _UNKNOWN_TEXTS.search(text):
        return SendOutcome.UNKNOWN
    if _META_REFUSAL_CODE.match(text):
        return SendOutcome.NOT_SENT
    if request.path == _TEMPLATE_SEND:
        return SendOutcome.NOT_SENT  # Meta's details text: Meta refused the template message
    return SendOutcome.UNKNOWN


def _send_exception_error(request: ApiRequest, text: str, common: dict[str, Any]) -> WapiFlowError:
    outcome = send_text_outcome(request, text)
    curl = _CURL.match(text)
    if outcome is SendOutcome.NOT_SENT and curl:
        return WapiFlowMetaError(
            f"{request.describe()}: WapiFlow could not reach Meta's WhatsApp API, nothing was sent: {text}",
            transient=True,
            **common,
        )
    if outcome is SendOutcome.NOT_SENT and _WRONG_METHOD.search(text):
        return WapiFlowNotFoundError(f"{request.describe()}: {text}", outcome=SendOutcome.NOT_SENT, **common)
    if outcome is SendOutcome.NOT_SENT:
        code = _META_REFUSAL_CODE.match(text)
        rate_limited = (code is not None and int(code.group(1)) in _META_RATE_LIMIT_CODES) or any(
            word in text.lower() for word in ("rate limit", "throughput", "too many")
        )
        return WapiFlowMetaError(
            f"{request.describe()}: Meta rejected the message, nothing was sent: {text}",
            transient=rate_limited,
            **common,
        )
    if curl:
        reason = (
            "WapiFlow gave up waiting for Meta after its 30 s limit"
            if curl.group(1) == "28"
            else "WapiFlow's call to Meta failed after the request left"
        )
        return WapiFlowServerError(
            f"{request.describe()}: {reason}; Meta may have delivered the message, so it is not sent again: {text}",
            outcome=SendOutcome.UNKNOWN,
            **common,
        )
    return WapiFlowServerError(
        f"WapiFlow failed on {request.describe()}: {text}. The message may have been sent.",
        outcome=SendOutcome.UNKNOWN,
        **common,
    )


def _exception_error(request: ApiRequest, messages: list[str], status: int) -> WapiFlowError:
    """Classify a ``remark: exception`` answer (docs/server-bugs.rst#bug-not-a-contact, #bug-meta-outage)."""
    text = _joined(messages)
    common: dict[str, Any] = {"remark": "exception", "messages": messages, "http_status": status}
    if _NOT_A_CONTACT.search(text):
        return WapiFlowNotAContactError(
            f"{request.describe()}: the number is not a WapiFlow contact, so nothing was sent. Create the "
            "contact first (create_contact / UpsertContactsOperator), then send. WapiFlow's documented "
            "auto-create of new numbers does not work on the server.",
            **common,
        )
    if request.is_send:
        return _send_exception_error(request, text, common)
    if _CONTACT_SEARCH_BUG.search(text):
        return WapiFlowServerError(
            "WapiFlow's contact search is broken on the server (it queries a contacts.email column that "
            "does not exist), so contact/list with 'search' always fails. List contacts without "
            "'search' and filter them yourself.",
            outcome=SendOutcome.NOT_SENT,
            **common,
        )
    if _WRONG_METHOD.search(text):
        return WapiFlowNotFoundError(f"{request.describe()}: {text}", outcome=SendOutcome.NOT_SENT, **common)
    outcome = SendOutcome.NOT_SENT if request.safe else SendOutcome.UNKNOWN
    return WapiFlowServerError(
        f"WapiFlow failed on {request.describe()}: {text}{_may_have_been_sent(request, outcome)}",
        outcome=outcome,
        **common,
    )


def _is_maintenance_redirect(answer: Answer, location: str) -> bool:
    """WapiFlow's maintenance middleware redirects to ``<site>/maintenance-mode`` before running anything."""
    target = urlsplit(location)
    if target.path.rstrip("/").rsplit("/", 1)[-1] != "maintenance-mode":
        return False
    if target.netloc and answer.url:
        return target.hostname == urlsplit(answer.url).hostname
    return True


def _redirect_error(request: ApiRequest, answer: Answer, place: str = "") -> WapiFlowError:
    location = header(answer.headers, "location") or ""
    shown = redact(location)
    if _is_maintenance_redirect(answer, location):
        # Answered by the maintenance middleware, before the route runs: nothing was processed.
        return _mark_transient(
            WapiFlowServerError(
                f"WapiFlow is in maintenance mode ({request.describe()} redirected to {shown})",
                http_status=answer.status,
                outcome=SendOutcome.NOT_SENT,
            )
        )
    hint = "check the connection's Base URL"
    if answer.url.startswith("http://") and location.startswith("https://"):
        hint = "the server wants https://: use https:// in the connection's Base URL"
    if request.safe:
        return WapiFlowServerError(
            f"WapiFlow redirected {request.describe()} (HTTP {answer.status}) to {shown!r}: {hint}{place}",
            http_status=answer.status,
            outcome=SendOutcome.NOT_SENT,
        )
    # A 303 after processing, or a gateway's 302/307 after it proxied the request: it may have run.
    return WapiFlowServerError(
        f"WapiFlow (or a gateway in front of it) answered {request.describe()} with a redirect (HTTP "
        f"{answer.status}) to {shown!r}; the request may have been processed, so it is not repeated"
        f"{_may_have_been_sent(request)} ({hint}){place}",
        http_status=answer.status,
        outcome=SendOutcome.UNKNOWN,
    )


def unwrap(request: ApiRequest, answer: Answer, *, where: str = "") -> Unwrapped:
    """
    Return the envelope's ``data`` (``{}`` when absent), or raise the matching :class:`WapiFlowError`.

    A send answered with an error text that proves it was sent (the post-send exception of every
    template send, see docs/server-bugs.rst#bug-post-send-exception; a failed insert of the message
    row; a failed update of the conversation) returns data ``{"conversation_id": None}`` and the text
    as :attr:`Unwrapped.sent_despite_error`. ``where`` (the connection and URL tried) is added to the
    errors about the Base URL.
    """
    place = f" [{where}]" if where else ""
    status = answer.status
    if status == 401:
        envelope = _load(answer.body)
        raise _auth_error(request, answer, envelope if isinstance(envelope, dict) else None)
    if 300 <= status < 400:
        raise _redirect_error(request, answer, place)
    if status == 429:
        raise _mark_transient(
            WapiFlowRateLimitError(
                f"WapiFlow rate-limited {request.describe()} (HTTP 429)",
                retry_after=retry_after_seconds(answer.headers),
                http_status=429,
            )
        )
    if status >= 500:
        try:
            detail = _joined(_messages(_parse_json(request, answer)))
        except WapiFlowServerError:
            loaded = _load(answer.body)
            detail = _joined(_messages(loaded)) if isinstance(loaded, dict) else "non-JSON body"
        outcome = SendOutcome.NOT_SENT if status == 503 else None
        raise _mark_transient(
            WapiFlowServerError(
                f"WapiFlow answered {request.describe()} with HTTP {status}: {detail}."
                + _may_have_been_sent(request, outcome),
                http_status=status,
                outcome=outcome,
            )
        )
    if status == 404:
        loaded = _load(answer.body)
        messages = _messages(loaded) if isinstance(loaded, dict) else []
        raise WapiFlowNotFoundError(
            f"No WapiFlow endpoint for {request.describe()} (HTTP 404: {_joined(messages)}). Check the "
            "connection's Base URL: it ends in /external-api (not /extern-api as the vendor's examples say)." + place,
            remark="not_found",
            messages=messages,
            http_status=404,
        )
    envelope = _parse_json(request, answer)
    state = envelope.get("status")
    if state == "success":
        return Unwrapped(_success_data(request, envelope))
    if state != "error":
        # Neither of the two values WapiFlow's apiResponse() writes: not WapiFlow's answer as we know it.
        raise _odd_status(request, answer, state)
    remark = str(envelope.get("remark") or "")
    messages = _messages(envelope)
    if remark == "exception":
        if request.is_send and send_text_outcome(request, _joined(messages)) is SendOutcome.SENT:
            return Unwrapped({"conversation_id": None}, sent_despite_error=_joined(messages))
        raise _exception_error(request, messages, status)
    error_class = _REMARK_ERRORS.get(remark)
    if error_class is None:
        outcome = SendOutcome.NOT_SENT if request.safe else SendOutcome.UNKNOWN
        raise WapiFlowError(
            f"WapiFlow refused {request.describe()} ({remark or 'error'}): {_joined(messages)}"
            + (f" (an unknown remark{'; the message may have been sent' if request.is_send else ''})"
               if not request.safe else ""),
            remark=remark,
            messages=messages,
            http_status=status,
            outcome=outcome,
        )  # fmt: skip
    raise error_class(
        f"WapiFlow refused {request.describe()} ({remark or 'error'}): {_joined(messages)}",
        remark=remark,
        messages=messages,
        http_status=status,
        outcome=SendOutcome.NOT_SENT,
    )


def _odd_status(request: ApiRequest, answer: Answer, state: Any) -> WapiFlowError:
    shown = json.dumps(state) if not isinstance(state, str) else repr(state)
    if request.safe:
        return _mark_transient(
            WapiFlowServerError(
                f"WapiFlow answered {request.describe()} with an envelope whose status is {shown}, neither "
                "'success' nor 'error'",
                http_status=answer.status,
                outcome=SendOutcome.NOT_SENT,
            )
        )
    return WapiFlowServerError(
        f"WapiFlow answered {request.describe()} with an envelope whose status is {shown}, neither 'success' "
        f"nor 'error': the outcome is unknown.{_may_have_been_sent(request)}",
        http_status=answer.status,
        outcome=SendOutcome.UNKNOWN,
    )


def _success_data(request: ApiRequest, envelope: Mapping[str, Any]) -> dict[str, Any]:
    if "data" not in envelope:
        return {}
    data = envelope["data"]
    if isinstance(data, Mapping):
        return dict(data)
    if request.is_send:
        return {}  # the server said success: the message was sent, whatever came with it
    raise WapiFlowServerError(
        f"WapiFlow answered {request.describe()} with success but its data is {_kind(data)}, not an object",
        outcome=SendOutcome.NOT_SENT if request.safe else SendOutcome.UNKNOWN,
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def expect_object(request: ApiRequest, data: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``data[key]`` when it is an object, else a :class:`WapiFlowServerError` naming route and key."""
    value = data.get(key) if isinstance(data, Mapping) else None
    if isinstance(value, Mapping):
        return dict(value)
    got = "no such key" if not isinstance(data, Mapping) or key not in data else _kind(value)
    raise WapiFlowServerError(
        f"WapiFlow answered {request.describe()} with success, but without the expected {key!r} object in "
        f"its data (got {got}). Is the Base URL a WapiFlow server?",
        outcome=SendOutcome.NOT_SENT if request.safe else SendOutcome.UNKNOWN,
    )


def expect_page(request: ApiRequest, data: Mapping[str, Any], key: str) -> dict[str, Any]:
    """
    ``data[key]`` as a Laravel paginator: an object with a list ``data`` and integer ``current_page``
    and ``last_page``; anything else is a :class:`WapiFlowServerError` naming route and key.
    """
    value = data.get(key) if isinstance(data, Mapping) else None
    problem = None
    if not isinstance(value, Mapping):
        problem = f"{_kind(value) if key in data else 'no such key'}, not a paginator object"
    elif not isinstance(value.get("data"), list):
        problem = f"a paginator whose data is {_kind(value.get('data'))}, not a list"
    else:
        for field in ("current_page", "last_page"):
            number = value.get(field)
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                problem = f"a paginator whose {field} is {number!r}, not a page number"
                break
    if problem is None:
        assert isinstance(value, Mapping)
        for item in value["data"]:
            if not isinstance(item, Mapping):
                problem = f"a page with an item that is {_kind(item)}, not an object"
                break
    if problem is not None:
        raise WapiFlowServerError(
            f"WapiFlow answered {request.describe()} with success, but {key!r} in its data is {problem}",
            outcome=SendOutcome.NOT_SENT,
        )
    return dict(value)  # type: ignore[arg-type]


def connection_error(
    request: ApiRequest, error: BaseException | str, *, connected: bool, where: str = ""
) -> WapiFlowConnectionError:
    """
    Wrap a transport failure; ``connected`` says whether the request may have reached WapiFlow.

    ``where`` names the connection and the URL tried (``ConnectionSettings.where()``).
    """
    reason = error if isinstance(error, str) else _describe_transport_error(error)
    place = f" [{where}]" if where else ""
    if connected:
        message = (
            f"{request.describe()}: the answer from WapiFlow was lost ({reason}){place}.{_may_have_been_sent(request)}"
        )
        outcome = SendOutcome.UNKNOWN
    else:
        message = f"{request.describe()}: could not connect to WapiFlow ({reason}){place}; nothing was sent"
        outcome = SendOutcome.NOT_SENT
    wrapped = WapiFlowConnectionError(redact(message), outcome=outcome)
    _mark_transient(wrapped)
    return wrapped


def _describe_transport_error(error: BaseException) -> str:
    """The error's type and its innermost useful text (DNS, refused, TLS...), without the URL's query."""
    text = str(error)
    cause: BaseException | None = error
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if str(cause):
            text = str(cause)
        nested = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = nested or getattr(cause, "reason", None) or cause.__cause__
        if not isinstance(cause, BaseException):
            cause = None
    text = re.sub(r"\?[^\s'\"]*", "", text)  # query strings can carry a phone searched for
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__
