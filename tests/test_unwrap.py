"""
Table-driven, without HTTP: what ``unwrap`` makes of each kind of answer, and what the retry policy
repeats and how long it waits. Each row states the class, the send outcome and whether it is
transient; a change to any of them in hooks/_envelope.py or hooks/_settings.py fails its row.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

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
)
from airflow_provider_wapiflow.hooks import _settings
from airflow_provider_wapiflow.hooks import endpoints as api
from airflow_provider_wapiflow.hooks._envelope import POST_SEND_EXCEPTION, Answer, Unwrapped, connection_error, unwrap
from airflow_provider_wapiflow.hooks._settings import RetryPolicy

SPAIN = ("34", "600111222")
READ = api.list_templates()
SEARCH = api.list_contacts(search="ana")
TEXT = api.send_message(*SPAIN, message="hi")
TEMPLATE = api.send_template_message(*SPAIN, 1)
DELETE = api.delete_contact(1)

SENT, NOT_SENT, UNKNOWN = SendOutcome.SENT, SendOutcome.NOT_SENT, SendOutcome.UNKNOWN
NOT_A_CONTACT = "SQLSTATE[23000]: Integrity constraint violation: 1048 Column 'contact_id' cannot be null"
SEARCH_BUG = "SQLSTATE[42S22]: Column not found: 1054 Unknown column 'email' in 'where clause'"
MESSAGES_INSERT = "SQLSTATE[22001]: String data, right truncated (SQL: insert into `messages` (`message`) values ('x'))"
META_DETAILS = "body: number of localizable_params (1) does not match the expected number of params (2)"


def envelope(remark: str, message: str, status: str = "error", **extra: Any) -> bytes:
    return json.dumps({"status": status, "remark": remark, "message": [message], **extra}).encode()


# --- answers that are data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "body", "expected"),
    [
        (READ, envelope("success", "ok", "success", data={"a": 1}), Unwrapped({"a": 1})),
        (READ, envelope("success", "ok", "success"), Unwrapped({})),
        (TEXT, envelope("success", "ok", "success", data=[]), Unwrapped({})),  # a send's success is a success
        (TEMPLATE, envelope("exception", POST_SEND_EXCEPTION),
         Unwrapped({"conversation_id": None}, sent_despite_error=POST_SEND_EXCEPTION)),
        (TEXT, envelope("exception", MESSAGES_INSERT),
         Unwrapped({"conversation_id": None}, sent_despite_error=MESSAGES_INSERT)),
    ],
    ids=["data", "no data", "send with odd data", "post-send exception", "failed insert after the send"],
)  # fmt: skip
def test_answers_that_unwrap_to_data(request_: api.ApiRequest, body: bytes, expected: Unwrapped) -> None:
    assert unwrap(request_, Answer(200, {}, body)) == expected


# --- answers that are errors: status x remark x message -> class, outcome, retryable ------------------

ERRORS: list[tuple[str, api.ApiRequest, int, dict[str, str], bytes, type[WapiFlowError], SendOutcome, bool]] = [
    # remark "exception" on a send: what the text proves
    ("post-send text on a text send", TEXT, 200, {}, envelope("exception", POST_SEND_EXCEPTION),
     WapiFlowServerError, UNKNOWN, False),
    ("not a contact", TEXT, 200, {}, envelope("exception", NOT_A_CONTACT), WapiFlowNotAContactError, NOT_SENT, False),
    ("Meta unreachable (cURL 7)", TEMPLATE, 200, {}, envelope("exception", "cURL error 7: Failed to connect"),
     WapiFlowMetaError, NOT_SENT, False),
    ("WapiFlow's 30 s limit (cURL 28)", TEMPLATE, 200, {}, envelope("exception", "cURL error 28: timed out"),
     WapiFlowServerError, UNKNOWN, False),
    ("Meta refusal with a code", TEMPLATE, 200, {}, envelope("exception", "(#132000) Wrong number of params"),
     WapiFlowMetaError, NOT_SENT, False),
    ("Meta's details text, template", TEMPLATE, 200, {}, envelope("exception", META_DETAILS),
     WapiFlowMetaError, NOT_SENT, False),
    ("the same text on a text send", TEXT, 200, {}, envelope("exception", META_DETAILS),
     WapiFlowServerError, UNKNOWN, False),
    # remark "exception" elsewhere
    ("contact search bug", SEARCH, 200, {}, envelope("exception", SEARCH_BUG), WapiFlowServerError, NOT_SENT, False),
    ("exception on a delete", DELETE, 200, {}, envelope("exception", "Something went wrong"),
     WapiFlowServerError, UNKNOWN, False),
    ("exception on a read", READ, 200, {}, envelope("exception", "Something went wrong"),
     WapiFlowServerError, NOT_SENT, False),
    # other remarks
    ("validation_error", TEXT, 200, {}, envelope("validation_error", "The mobile field is required."),
     WapiFlowValidationError, NOT_SENT, False),
    ("subscription_required", TEXT, 200, {}, envelope("subscription_required", "No plan"),
     WapiFlowPlanError, NOT_SENT, False),
    ("not_found", TEXT, 200, {}, envelope("not_found", "x"), WapiFlowNotFoundError, NOT_SENT, False),
    ("unknown remark, send", TEXT, 200, {}, envelope("brand_new", "x"), WapiFlowError, UNKNOWN, False),
    ("unknown remark, read", READ, 200, {}, envelope("brand_new", "x"), WapiFlowError, NOT_SENT, False),
    ("odd envelope status, read", READ, 200, {}, envelope("success", "x", "ok"), WapiFlowServerError, NOT_SENT, True),
    ("odd envelope status, send", TEXT, 200, {}, envelope("success", "x", "ok"), WapiFlowServerError, UNKNOWN, False),
    ("not JSON, send", TEXT, 200, {}, b"<html>proxy</html>", WapiFlowServerError, UNKNOWN, True),
    # HTTP statuses
    ("401 whitelist", TEXT, 401, {}, envelope("Unauthorized", "Your IP (203.0.113.7) is not in the whitelist"),
     WapiFlowIPNotAllowedError, NOT_SENT, False),
    ("401 credentials", TEXT, 401, {}, envelope("Unauthorized", "Invalid credentials"),
     WapiFlowAuthError, NOT_SENT, False),
    ("429", TEXT, 429, {"Retry-After": "7"}, b"", WapiFlowRateLimitError, NOT_SENT, True),
    ("503", TEXT, 503, {}, b"maintenance", WapiFlowServerError, NOT_SENT, True),
    ("500 on a send", TEXT, 500, {}, b'{"message":"Server Error"}', WapiFlowServerError, UNKNOWN, True),
    ("404", TEXT, 404, {}, b"", WapiFlowNotFoundError, NOT_SENT, False),
    ("maintenance redirect", TEXT, 302, {"Location": "/maintenance-mode"}, b"", WapiFlowServerError, NOT_SENT, True),
    ("other redirect, send", TEXT, 302, {"Location": "/login"}, b"", WapiFlowServerError, UNKNOWN, False),
    ("other redirect, read", READ, 302, {"Location": "/login"}, b"", WapiFlowServerError, NOT_SENT, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "status", "headers", "body", "error_class", "outcome", "retryable"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_answers_that_are_errors(
    request_: api.ApiRequest,
    status: int,
    headers: dict[str, str],
    body: bytes,
    error_class: type[WapiFlowError],
    outcome: SendOutcome,
    retryable: bool,
) -> None:
    with pytest.raises(WapiFlowError) as caught:
        unwrap(request_, Answer(status, headers, body))
    assert type(caught.value) is error_class
    assert (caught.value.outcome, caught.value.retryable) == (outcome, retryable)
    assert caught.value.http_status == status


def test_the_details_of_transient_errors() -> None:
    with pytest.raises(WapiFlowRateLimitError) as rate_limited:
        unwrap(TEXT, Answer(429, {"Retry-After": "7"}, b""))
    assert rate_limited.value.retry_after == 7.0
    with pytest.raises(WapiFlowMetaError) as outage:
        unwrap(TEMPLATE, Answer(200, {}, envelope("exception", "cURL error 7: Failed to connect")))
    assert outage.value.transient
    with pytest.raises(WapiFlowMetaError) as throughput:
        unwrap(TEMPLATE, Answer(200, {}, envelope("exception", "(#131048) Spam rate limit hit")))
    assert throughput.value.transient
    with pytest.raises(WapiFlowIPNotAllowedError) as refused:
        unwrap(TEXT, Answer(401, {}, envelope("Unauthorized", "Your IP (203.0.113.7) is not in the whitelist")))
    assert refused.value.ip == "203.0.113.7"


# --- the retry policy ---------------------------------------------------------------------------------

POLICY = RetryPolicy(max_retries=3, backoff_base=1.0, backoff_max=4.0, max_retry_after=10.0)


def _transient(request: api.ApiRequest, status: int) -> WapiFlowError:
    with pytest.raises(WapiFlowError) as caught:
        unwrap(request, Answer(status, {}, b"x"))
    return caught.value


def _rate_limited(retry_after: float | None) -> WapiFlowRateLimitError:
    error = WapiFlowRateLimitError("429", retry_after=retry_after)
    error.retryable = True
    return error


@pytest.mark.parametrize(
    ("request_", "error", "attempt", "retried"),
    [
        (READ, _transient(READ, 500), 1, True),
        (READ, _transient(READ, 500), 3, True),
        (READ, _transient(READ, 500), 4, False),  # max_retries=3
        (TEXT, _transient(TEXT, 500), 1, False),  # may have been sent: never again
        (TEXT, _transient(TEXT, 503), 1, True),  # 503: nothing was processed
        (DELETE, _transient(DELETE, 500), 1, False),
        (TEXT, connection_error(TEXT, "refused", connected=False), 1, True),
        (TEXT, connection_error(TEXT, "reset", connected=True), 1, False),
        (READ, connection_error(READ, "reset", connected=True), 1, True),
        (TEXT, _rate_limited(None), 1, True),
        (TEXT, _rate_limited(10.0), 1, True),
        (TEXT, _rate_limited(10.5), 1, False),  # longer than max_retry_after: fail at once
        (READ, WapiFlowValidationError("refused"), 1, False),  # not transient
        (READ, WapiFlowConnectionError("x", outcome=NOT_SENT), 1, False),  # transient only when marked so
    ],
)
def test_which_errors_are_retried(request_: api.ApiRequest, error: WapiFlowError, attempt: int, retried: bool) -> None:
    assert POLICY.should_retry(request_, error, attempt) is retried


@pytest.mark.parametrize("bound", ["low", "high"])
@pytest.mark.parametrize(
    ("error", "attempt", "low", "high"),
    [
        (_transient(READ, 500), 1, 0.5, 1.0),
        (_transient(READ, 500), 2, 1.0, 2.0),
        (_transient(READ, 500), 3, 2.0, 4.0),
        (_transient(READ, 500), 4, 2.0, 4.0),  # capped by backoff_max
        (_rate_limited(7.0), 1, 7.0, 8.0),  # Retry-After plus up to 1 s of jitter
        (_rate_limited(7.0), 3, 7.0, 8.0),  # whatever the attempt
    ],
)
def test_the_waits_between_tries(
    monkeypatch: pytest.MonkeyPatch, error: WapiFlowError, attempt: int, low: float, high: float, bound: str
) -> None:
    monkeypatch.setattr(_settings.random, "uniform", lambda a, b: a if bound == "low" else b)
    assert POLICY.wait(error, attempt) == (low if bound == "low" else high)


def test_the_jitter_of_a_retry_after_is_at_most_the_backoff_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_settings.random, "uniform", lambda a, b: b)
    assert RetryPolicy(backoff_base=0.25).wait(_rate_limited(7.0), 1) == 7.25


# --- the hooks' retry loop: the policy decides, a send that may have arrived is tried once ------------


def _settings_for_tests() -> _settings.ConnectionSettings:
    return _settings.ConnectionSettings(
        conn_id="wapiflow_default", base_url="http://127.0.0.1:1/external-api", client_id="id",
        client_secret="secret", timeout=1.0, verify_ssl=True, proxy=None, retry=POLICY,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("request_", "error", "tries"),
    [
        (TEXT, connection_error(TEXT, "reset", connected=True), 1),
        (TEXT, connection_error(TEXT, "refused", connected=False), 4),  # 1 + max_retries
        (READ, connection_error(READ, "reset", connected=True), 4),
        (TEMPLATE, _transient(TEMPLATE, 500), 1),
    ],
)
async def test_the_hooks_try_as_the_policy_says(
    monkeypatch: pytest.MonkeyPatch, request_: api.ApiRequest, error: WapiFlowError, tries: int
) -> None:
    from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook

    async def no_wait(seconds: float) -> None:
        pass

    monkeypatch.setattr("time.sleep", lambda seconds: None)
    monkeypatch.setattr("asyncio.sleep", no_wait)
    sent: list[str] = []

    def fail(hook: object, request: api.ApiRequest) -> dict[str, Any]:
        sent.append(type(hook).__name__)
        raise error

    async def fail_async(hook: object, request: api.ApiRequest) -> dict[str, Any]:
        return fail(hook, request)

    monkeypatch.setattr(WapiFlowHook, "_send_once", fail)
    monkeypatch.setattr(WapiFlowAsyncHook, "_send_once", fail_async)
    sync, async_ = WapiFlowHook(), WapiFlowAsyncHook()
    sync.__dict__["settings"] = async_._settings = _settings_for_tests()
    with pytest.raises(type(error)):
        sync.call(request_)
    with pytest.raises(type(error)):
        await async_.call(request_)
    assert sent == ["WapiFlowHook"] * tries + ["WapiFlowAsyncHook"] * tries
