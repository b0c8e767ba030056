"""
What each WapiFlow answer proves about a send (docs/guarantees.rst): table-driven through
``unwrap`` for every text, and over real HTTP against the simulator where the point is an HTTP answer,
counting what reached the customer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from support import set_connection, template_id_of

from airflow_provider_wapiflow.exceptions import (
    SendOutcome,
    WapiFlowError,
    WapiFlowMetaError,
    WapiFlowServerError,
)
from airflow_provider_wapiflow.hooks import endpoints as api
from airflow_provider_wapiflow.hooks._envelope import CURL_CONNECT_PHASE, Answer, Unwrapped, unwrap
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook
from airflow_provider_wapiflow.testing import WapiFlowSimulator

SPAIN = ("34", "600111222")
TEMPLATE = api.send_template_message(*SPAIN, 1)
TEXT = api.send_message(*SPAIN, message="hello")
READ = api.list_templates()
TOKEN = "EAAGsimulatedMetaAccessToken0123456789"
GRAPH = f"for https://graph.facebook.com/v22.0/123/messages?access_token={TOKEN}"

SENT, NOT_SENT, UNKNOWN = SendOutcome.SENT, SendOutcome.NOT_SENT, SendOutcome.UNKNOWN

pytestmark = pytest.mark.sim_contacts(("Ana", "Ruiz", *SPAIN))


def exception(text: str) -> Answer:
    body = {"remark": "exception", "status": "error", "message": [text]}
    return Answer(200, {"Content-Type": "application/json"}, json.dumps(body).encode())


def outcome_of(request: api.ApiRequest, answer: Answer) -> SendOutcome:
    """SENT when ``unwrap`` returns (the message went out), else the error's outcome."""
    try:
        unwrap(request, answer)
    except WapiFlowError as error:
        return error.outcome
    return SENT


# --- every exception text of the two send paths --------------------------------------------------

NOT_A_CONTACT = (
    "SQLSTATE[23000]: Integrity constraint violation: 1048 Column 'contact_id' cannot be null (Connection: mysql, "
    "SQL: insert into `conversations` (`user_id`, `contact_id`, `updated_at`, `created_at`) values (1, ?, ...))"
)
MESSAGES_INSERT = (
    "SQLSTATE[22001]: String data, right truncated: 1406 Data too long for column 'message' at row 1 (Connection: "
    "mysql, SQL: insert into `messages` (`user_id`, `message`) values (1, 'Hola Ana'))"
)
CONVERSATION_UPDATE = (
    "SQLSTATE[HY000]: General error: 1205 Lock wait timeout exceeded (Connection: mysql, SQL: update "
    "`conversations` set `last_message_at` = 2026-11-29 10:00:00, `conversations`.`updated_at` = ... where `id` = 7)"
)
DETAILS = "body: number of localizable_params (1) does not match the expected number of params (2)"

CASES: list[tuple[str, api.ApiRequest, str, SendOutcome]] = [
    ("not a contact, template", TEMPLATE, NOT_A_CONTACT, NOT_SENT),
    ("not a contact, text", TEXT, NOT_A_CONTACT, NOT_SENT),
    ("curl 6", TEMPLATE, f"cURL error 6: Could not resolve host: graph.facebook.com (see https://curl.haxx.se/libcurl/c/libcurl-errors.html) {GRAPH}", NOT_SENT),  # noqa: E501
    ("curl 7", TEXT, "cURL error 7: Failed to connect to graph.facebook.com port 443 after 3 ms: Couldn't connect to server", NOT_SENT),  # noqa: E501
    ("curl 35 tls handshake", TEMPLATE, f"cURL error 35: OpenSSL SSL_connect: Connection reset by peer {GRAPH}", NOT_SENT),  # noqa: E501
    ("curl 60 certificate", TEMPLATE, f"cURL error 60: SSL certificate problem: unable to get local issuer certificate {GRAPH}", NOT_SENT),  # noqa: E501
    ("curl 5 proxy resolve", TEXT, "cURL error 5: Could not resolve proxy: proxy.internal", NOT_SENT),
    ("curl 28 template", TEMPLATE, f"cURL error 28: Operation timed out after 30001 milliseconds with 0 bytes received {GRAPH}", UNKNOWN),  # noqa: E501
    ("curl 28 text", TEXT, "cURL error 28: Operation timed out after 30002 milliseconds with 0 bytes received", UNKNOWN),  # noqa: E501
    ("curl 52", TEMPLATE, f"cURL error 52: Empty reply from server {GRAPH}", UNKNOWN),
    ("curl 56", TEXT, "cURL error 56: Recv failure: Connection reset by peer", UNKNOWN),
    ("curl 55", TEXT, "cURL error 55: Send failure: Broken pipe", UNKNOWN),
    ("curl 92", TEMPLATE, f"cURL error 92: HTTP/2 stream 1 was not closed cleanly {GRAPH}", UNKNOWN),
    ("curl unknown code", TEMPLATE, f"cURL error 99: something new {GRAPH}", UNKNOWN),
    ("meta details, template", TEMPLATE, DETAILS, NOT_SENT),
    ("meta details paused template", TEMPLATE, "Template is paused due to low quality so it cannot be sent in a template message.", NOT_SENT),  # noqa: E501
    ("meta code, template", TEMPLATE, "(#132000) Number of parameters does not match the expected number of params", NOT_SENT),  # noqa: E501
    ("meta code, text", TEXT, "(#131047) Re-engagement message", NOT_SENT),
    ("meta rate limit code, template", TEMPLATE, "(#130429) Rate limit hit", NOT_SENT),
    ("details form on a text send", TEXT, DETAILS, UNKNOWN),
    ("new text on a text send", TEXT, "Some text nobody has seen before", UNKNOWN),
    ("something went wrong, text", TEXT, "Something went wrong", UNKNOWN),
    ("something went wrong, template", TEMPLATE, "Something went wrong", UNKNOWN),
    ("message sending failed", TEMPLATE, "Message sending failed", UNKNOWN),
    ("undefined array key messages", TEMPLATE, 'Undefined array key "messages"', UNKNOWN),
    ("undefined array key 0", TEMPLATE, "Undefined array key 0", UNKNOWN),
    ("undefined array key id, text", TEXT, 'Undefined array key "id"', UNKNOWN),
    ("undefined index", TEMPLATE, "Undefined index: messages", UNKNOWN),
    ("undefined property", TEMPLATE, "Undefined property: stdClass::$id", UNKNOWN),
    ("attempt to read property", TEMPLATE, 'Attempt to read property "id" on null', UNKNOWN),
    ("trying to access array offset", TEMPLATE, "Trying to access array offset on value of type null", UNKNOWN),
    ("call to a member function", TEMPLATE, "Call to a member function first() on null", UNKNOWN),
    ("php type error", TEMPLATE, "json_decode(): Argument #1 ($json) must be of type string, array given", UNKNOWN),
    ("other sql error, template", TEMPLATE, "SQLSTATE[HY000] [2002] Connection refused (Connection: mysql, SQL: select * from `templates`)", UNKNOWN),  # noqa: E501
    ("server error text", TEMPLATE, "Server Error", UNKNOWN),
    ("empty text, template", TEMPLATE, "", UNKNOWN),
    ("messages insert failed, template", TEMPLATE, MESSAGES_INSERT, SENT),
    ("messages insert failed, text", TEXT, MESSAGES_INSERT, SENT),
    ("conversation update failed, template", TEMPLATE, CONVERSATION_UPDATE, SENT),
    ("conversation update failed, text", TEXT, CONVERSATION_UPDATE, SENT),
    # a text send's body, quoted in the failed insert, cannot turn "sent" into "not sent"
    ("messages insert quoting an error text", TEXT, MESSAGES_INSERT.replace("Hola Ana", NOT_A_CONTACT.replace("`", "")), SENT),  # noqa: E501
    ("another table's insert", TEMPLATE, MESSAGES_INSERT.replace("`messages`", "`messages_log`"), UNKNOWN),
    ("another table's update", TEXT, CONVERSATION_UPDATE.replace("`conversations`", "`conversation_notes`", 1), UNKNOWN),  # noqa: E501
    ("post-send exception", TEMPLATE, "Undefined variable $conversationId", SENT),
    ("post-send text on a text send", TEXT, "Undefined variable $conversationId", UNKNOWN),
    ("other undefined variable", TEMPLATE, "Undefined variable $whatsappAccount", UNKNOWN),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_exception_text_of_a_send(request_: api.ApiRequest, text: str, expected: SendOutcome) -> None:
    assert outcome_of(request_, exception(text)) is expected


def test_the_connect_phase_curl_codes_are_the_documented_list() -> None:
    assert {6, 7, 35, 60} <= CURL_CONNECT_PHASE
    assert not {28, 52, 55, 56, 16, 18, 92} & CURL_CONNECT_PHASE
    for code in range(1, 101):
        expected = NOT_SENT if code in CURL_CONNECT_PHASE else UNKNOWN
        assert outcome_of(TEXT, exception(f"cURL error {code}: x")) is expected, code


def test_a_sent_error_text_returns_like_a_success() -> None:
    assert unwrap(TEMPLATE, exception(MESSAGES_INSERT)) == Unwrapped(
        {"conversation_id": None},
        sent_despite_error=MESSAGES_INSERT,
    )


def test_the_curl_28_error_says_meta_may_have_delivered_and_hides_the_token() -> None:
    with pytest.raises(WapiFlowServerError) as caught:
        unwrap(TEMPLATE, exception(f"cURL error 28: Operation timed out after 30001 milliseconds {GRAPH}"))
    assert "Meta may have delivered" in str(caught.value)
    assert TOKEN not in str(caught.value) + " ".join(caught.value.messages)
    assert not isinstance(caught.value, WapiFlowMetaError)


def test_meta_rate_limit_is_a_transient_refusal() -> None:
    with pytest.raises(WapiFlowMetaError) as caught:
        unwrap(TEMPLATE, exception("(#130429) Rate limit hit"))
    assert caught.value.transient
    assert caught.value.outcome is NOT_SENT
    with pytest.raises(WapiFlowMetaError) as caught:
        unwrap(TEMPLATE, exception(DETAILS))
    assert not caught.value.transient


# --- the envelope's status, redirects, odd answers -----------------------------------------------


def envelope(**fields: Any) -> Answer:
    return Answer(200, {}, json.dumps(fields).encode())


@pytest.mark.parametrize(
    "status",
    ["ok", "Success", "SUCCESS", True, None, 1, "", "failed"],
)
def test_an_envelope_status_that_is_neither_success_nor_error(status: object) -> None:
    answer = envelope(remark="success", status=status, data={"conversation_id": 7})
    assert outcome_of(TEXT, answer) is UNKNOWN
    assert outcome_of(TEMPLATE, answer) is UNKNOWN
    with pytest.raises(WapiFlowServerError, match="neither 'success' nor 'error'"):
        unwrap(READ, answer)


def test_an_envelope_without_status_on_a_send_is_unknown() -> None:
    assert outcome_of(TEXT, envelope(remark="success", data={"conversation_id": 7})) is UNKNOWN


def test_an_unknown_remark_on_a_send_is_unknown_and_a_known_one_not_sent() -> None:
    assert outcome_of(TEXT, envelope(remark="brand_new_remark", status="error", message=["?"])) is UNKNOWN
    assert outcome_of(TEXT, envelope(remark="not_found", status="error", message=["x"])) is NOT_SENT


@pytest.mark.parametrize(
    ("status", "location", "expected"),
    [
        (302, "http://127.0.0.1:8089/maintenance-mode", NOT_SENT),
        (302, "/maintenance-mode", NOT_SENT),
        (302, "http://elsewhere.example/maintenance-mode", UNKNOWN),
        (302, "http://127.0.0.1:8089/login", UNKNOWN),
        (303, "http://127.0.0.1:8089/external-api/inbox/send-message", UNKNOWN),
        (307, "https://127.0.0.1:8089/external-api/inbox/send-message", UNKNOWN),
        (301, "", UNKNOWN),
        (302, "http://127.0.0.1:8089/maintenance-mode-info", UNKNOWN),
    ],
)
def test_redirects_on_a_send(status: int, location: str, expected: SendOutcome) -> None:
    answer = Answer(status, {"Location": location}, b"", url="http://127.0.0.1:8089/external-api/inbox/send-message")
    assert outcome_of(TEXT, answer) is expected
    with pytest.raises(WapiFlowServerError) as caught:
        unwrap(TEXT, answer)
    assert caught.value.retryable is (expected is NOT_SENT)


def test_a_redirect_on_a_read_is_an_error_without_send_risk() -> None:
    answer = Answer(
        302, {"Location": "https://127.0.0.1/x"}, b"", url="http://127.0.0.1/external-api/inbox/template-list"
    )
    with pytest.raises(WapiFlowServerError, match="use https://") as caught:
        unwrap(READ, answer)
    assert caught.value.outcome is NOT_SENT


@pytest.mark.parametrize(
    "body",
    [b'{"message":"Server Error"}', b"<html><body><h1>Whoops, looks like something went wrong.</h1></body></html>"],
)
def test_a_php_500_on_a_send_is_unknown(body: bytes) -> None:
    assert outcome_of(TEMPLATE, Answer(500, {}, body)) is UNKNOWN
    assert outcome_of(TEXT, Answer(500, {}, body)) is UNKNOWN


@pytest.mark.parametrize("data", [[], None, "sent", 7, [{"conversation_id": 1}]])
def test_a_send_success_with_odd_data_is_sent(data: object) -> None:
    assert unwrap(TEXT, envelope(remark="success", status="success", data=data)).data == {}


# --- over real HTTP, counting what reached the customer -------------------------------------------


@pytest.mark.parametrize("status", [302, 303, 307])
def test_a_redirect_after_processing_is_not_retried(sim: WapiFlowSimulator, status: int) -> None:
    sim.inject("error", status=status, process=True, times=1, path="inbox/send-message")
    with pytest.raises(WapiFlowServerError) as caught:
        WapiFlowHook().send_message(*SPAIN, message="hello")
    assert caught.value.outcome is UNKNOWN
    assert sim.request_count(path_prefix="inbox/send-message") == 1
    assert len(sim.messages(direction="sent")) == 1  # once, not twice


def test_the_maintenance_redirect_is_not_sent_and_retried(sim: WapiFlowSimulator) -> None:
    sim.maintenance = True
    with pytest.raises(WapiFlowServerError, match="maintenance mode") as caught:
        WapiFlowHook().send_message(*SPAIN, message="hello")
    assert caught.value.outcome is NOT_SENT
    assert sim.request_count() == 4  # 1 + max_retries: nothing ran, so repeating is safe
    assert sim.messages(direction="sent") == []


@pytest.mark.parametrize("status", ["ok", "Success", True, None])
def test_an_odd_status_over_http_is_unknown_and_sent_once(sim: WapiFlowSimulator, status: object) -> None:
    body = json.dumps({"remark": "success", "status": status, "data": {"conversation_id": 1}})
    sim.inject("error", status=200, body=body, process=True, times=1, path="inbox/send-message")
    with pytest.raises(WapiFlowServerError) as caught:
        WapiFlowHook().send_message(*SPAIN, message="hello")
    assert caught.value.outcome is UNKNOWN
    assert sim.request_count() == 1
    assert len(sim.messages(direction="sent")) == 1


@pytest.mark.parametrize(
    ("text", "processed", "expected"),
    [
        (f"cURL error 28: Operation timed out after 30001 milliseconds with 0 bytes received {GRAPH}", True, UNKNOWN),
        (f"cURL error 52: Empty reply from server {GRAPH}", True, UNKNOWN),
        (f"cURL error 7: Failed to connect to graph.facebook.com port 443 {GRAPH}", False, NOT_SENT),
        (DETAILS, False, NOT_SENT),
        ("Message sending failed", True, UNKNOWN),
        ('Undefined array key "messages"', True, UNKNOWN),
    ],
)
def test_template_send_texts_over_http(
    sim: WapiFlowSimulator, text: str, processed: bool, expected: SendOutcome
) -> None:
    body = json.dumps({"remark": "exception", "status": "error", "message": [text]})
    sim.inject("error", status=200, body=body, process=processed, times=1, path="inbox/send-template-message")
    hook = WapiFlowHook()
    with pytest.raises(WapiFlowError) as caught:
        hook.send_template_message(*SPAIN, template_id_of(sim, "welcome"))
    assert caught.value.outcome is expected
    assert sim.meta_access_token not in str(caught.value)
    assert sim.request_count() == 1  # neither kind is repeated by the hook
    assert len(sim.messages(direction="sent")) == (1 if processed else 0)


def test_a_stored_message_whose_row_failed_is_sent(sim: WapiFlowSimulator) -> None:
    body = json.dumps({"remark": "exception", "status": "error", "message": [MESSAGES_INSERT]})
    sim.inject("error", status=200, body=body, process=True, times=1, path="inbox/send-message")
    assert WapiFlowHook().send_message(*SPAIN, message="hello") == {"conversation_id": None}
    assert sim.request_count() == 1
    assert len(sim.messages(direction="sent")) == 1


def test_the_real_wrong_parameter_count_refusal_is_not_sent(sim: WapiFlowSimulator) -> None:
    with pytest.raises(WapiFlowMetaError) as caught:
        WapiFlowHook().send_template_message(*SPAIN, template_id_of(sim, "order_shipped"), body_variables=["one"])
    assert caught.value.outcome is NOT_SENT
    assert sim.messages(direction="sent") == []


# --- issue 12.5: a send outwaits WapiFlow's own 30 s Meta timeout ---------------------------------


def test_a_send_waits_longer_than_wapiflows_meta_timeout(sim: WapiFlowSimulator) -> None:
    settings = WapiFlowHook().settings
    assert settings.read_timeout(TEXT) >= 45  # 30 s of WapiFlow's Meta call, plus margin
    assert settings.read_timeout(TEMPLATE) == settings.send_timeout == 60
    assert settings.read_timeout(READ) == settings.timeout
    assert settings.deadline > settings.send_timeout + settings.connect_timeout


def test_a_slow_send_answer_within_send_timeout_is_read(
    monkeypatch: pytest.MonkeyPatch, sim: WapiFlowSimulator
) -> None:
    # timeout (for reads) shorter than the server's pause: the send still waits for the verdict.
    set_connection(monkeypatch, sim, extra={"timeout": 0.2, "send_timeout": 5})
    sim.inject("delay", seconds=0.6, process=True, times=1, path="inbox/send-message")
    assert WapiFlowHook().send_message(*SPAIN, message="hello")["message"]["message"] == "hello"
    assert len(sim.messages(direction="sent")) == 1


# --- issue 12.8: zero coordinates -----------------------------------------------------------------


@pytest.mark.parametrize(("latitude", "longitude"), [(0, 0), ("0", "0"), (0, -3.7038), (40.4168, "0"), (0.0, 0.0)])
def test_zero_coordinates_send_a_location(sim: WapiFlowSimulator, latitude: Any, longitude: Any) -> None:
    result = WapiFlowHook().send_message(*SPAIN, latitude=latitude, longitude=longitude)
    assert result["message"]["message_type"] == 8  # a location, not WapiFlow's empty text
    sent = sim.requests()[-1]["input"]
    assert float(sent["latitude"]) == float(latitude)
    assert float(sent["longitude"]) == float(longitude)
    assert sent["latitude"] not in ("0", "")
    assert sent["longitude"] not in ("0", "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latitude": 0}, "'latitude' and 'longitude' must be given together"),
        ({"longitude": "0"}, "'latitude' and 'longitude' must be given together"),
        ({"latitude": "north", "longitude": 1}, "'latitude' must be a number"),
        ({"latitude": 91, "longitude": 1}, "'latitude' must be between -90 and 90"),
        ({"latitude": 1, "longitude": -180.5}, "'longitude' must be between -180 and 180"),
        ({"latitude": float("nan"), "longitude": 1}, "'latitude' must be a finite number"),
        ({"latitude": True, "longitude": 1}, "'latitude' must be a number"),
        ({"latitude": 1, "longitude": None, "message": "x"}, "must be given together"),
    ],
)
def test_coordinates_are_checked_before_any_request(
    sim: WapiFlowSimulator, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        WapiFlowHook().send_message(*SPAIN, **kwargs)
    assert sim.request_count() == 0


def test_coordinate_text_keeps_precision() -> None:
    form = dict(api.send_message(*SPAIN, latitude=0, longitude=-0.0).form)
    assert (form["latitude"], form["longitude"]) == ("0.0", "0.0")
    form = dict(api.send_message(*SPAIN, latitude="40.4168", longitude=-3.70379).form)
    assert (form["latitude"], form["longitude"]) == ("40.4168", "-3.70379")
    assert dict(api.send_message(*SPAIN, latitude=0.00001, longitude=1).form)["latitude"] == "0.00001"
