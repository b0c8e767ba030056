"""
The bad-input and bad-answer catalogue: for each, the exact message a user sees, and for every bad
input, that WapiFlow received no request (or, where only WapiFlow knows the answer, no write and no send).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_wapiflow.exceptions import (
    WapiFlowConnectionError,
    WapiFlowError,
    WapiFlowInputError,
    WapiFlowIPNotAllowedError,
    WapiFlowNotFoundError,
    WapiFlowPlanError,
    WapiFlowServerError,
)
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook
from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator
from airflow_provider_wapiflow.operators.messages import SendMessageOperator, SendTemplateOperator
from airflow_provider_wapiflow.testing import WapiFlowSimulator

ALLOWED_CONTACT_KEYS = "firstname, lastname, phone, mobile_code, mobile, city, state, post_code, address"
FAST = {"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.05}


@pytest.fixture
def sim(wapiflow_simulator: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> WapiFlowSimulator:
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", wapiflow_simulator.connection_json(**FAST))
    return wapiflow_simulator


def raised(run: Callable[[], Any]) -> WapiFlowError:
    """The typed error; an error no retry can fix comes as an AirflowFailException chaining it."""
    from airflow.sdk.exceptions import AirflowFailException

    with pytest.raises(WapiFlowError) as caught:
        run()
    if isinstance(caught.value, AirflowFailException):
        assert isinstance(caught.value.__cause__, WapiFlowError)
        return caught.value.__cause__
    return caught.value


def send_template(recipients: Any, template: str = "welcome") -> Callable[[], Any]:
    return lambda: SendTemplateOperator(task_id="send", template=template, recipients=recipients).execute({})  # type: ignore[arg-type]


def send_message(recipients: Any, **kwargs: Any) -> Callable[[], Any]:
    operator = SendMessageOperator(task_id="send", recipients=recipients, **kwargs)
    return lambda: operator.execute({})  # type: ignore[arg-type]


def upsert(*rows: dict[str, Any]) -> Callable[[], Any]:
    return lambda: UpsertContactsOperator(task_id="upsert", contacts=list(rows)).execute({})  # type: ignore[arg-type]


def send_refusal(line: str) -> str:
    return f"1 of 1 recipients are invalid:\n  recipient 0: {line}\nNothing was sent (max_failures=0)."


def upsert_refusal(line: str) -> str:
    return f"1 of 1 contact rows are invalid (max_failures allows 0); nothing was written:\n  row 0: {line}"


def assert_nothing_sent(sim: WapiFlowSimulator) -> None:
    assert sim.request_count() == 0
    assert sim.messages() == []
    assert sim.contacts() == []


# --- phones: every surface that takes one ------------------------------------------------------------

NO_PLUS = "must be in E.164 form with a leading '+' and country code"
PHONES = {
    # letters would be read as a keypad ("ABC" -> 222) and the message would go to somebody else
    "malformed-letters": ("+34 600 111 ABC", "'phone' +** *** 111 ABC is not a phone number"),
    "malformed-no-plus": ("0034600111222", f"'phone' **********222 {NO_PLUS}"),
    "malformed-extension": ("+34600111222 ext. 5", "'phone' +*********22 ext. 5 is not a phone number"),
    "too-short": ("+3460011", "'phone' +****011 is too short"),
    "too-long": ("+346001112223334445", "'phone' +***************445 is too long"),
}
ONLY_DIGITS = ": only digits, spaces and - . ( ) may follow the '+'"


def phone_line(case: str) -> str:
    line = PHONES[case][1]
    return line + ONLY_DIGITS if line.endswith("is not a phone number") else line


@pytest.mark.parametrize("case", PHONES)
def test_bad_phone_in_a_send(sim: WapiFlowSimulator, case: str) -> None:
    error = raised(send_template([PHONES[case][0]]))
    assert isinstance(error, WapiFlowInputError)
    assert str(error) == send_refusal(phone_line(case))
    assert_nothing_sent(sim)


@pytest.mark.parametrize("case", PHONES)
def test_bad_phone_in_an_upsert(sim: WapiFlowSimulator, case: str) -> None:
    error = raised(upsert({"firstname": "Ana", "lastname": "Ruiz", "phone": PHONES[case][0]}))
    assert isinstance(error, WapiFlowInputError)
    assert str(error) == upsert_refusal(phone_line(case))
    assert_nothing_sent(sim)


def test_bad_phone_in_a_hook_call(sim: WapiFlowSimulator) -> None:
    error = raised(lambda: WapiFlowHook().send_message("34", "600 111 222", "hi"))
    assert str(error) == "'mobile' *** *** 222 must contain digits only (no '+', spaces or dashes)"
    assert_nothing_sent(sim)


MOBILE_CODE_PLUS = "'mobile_code' '+34' must be the country code without '+'"


def test_plus_in_mobile_code_of_a_send(sim: WapiFlowSimulator) -> None:
    error = raised(send_template([{"mobile_code": "+34", "mobile": "600111222"}]))
    assert str(error) == send_refusal(MOBILE_CODE_PLUS)
    assert_nothing_sent(sim)


def test_plus_in_mobile_code_of_an_upsert(sim: WapiFlowSimulator) -> None:
    error = raised(upsert({"firstname": "Ana", "lastname": "Ruiz", "mobile_code": "+34", "mobile": "600111222"}))
    assert str(error) == upsert_refusal(MOBILE_CODE_PLUS)
    assert_nothing_sent(sim)


def test_plus_in_mobile_code_of_a_hook_call(sim: WapiFlowSimulator) -> None:
    error = raised(lambda: WapiFlowHook().create_contact("Ana", "Ruiz", "+34", "600111222"))
    assert str(error) == MOBILE_CODE_PLUS
    assert_nothing_sent(sim)


# --- contact rows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "line"),
    [
        ({"firstname": "Ana", "phone": "+34600111222"}, "'lastname' is required"),
        ({"firstname": "  ", "lastname": "Ruiz", "phone": "+34600111222"}, "'firstname' is required"),
        ({"firstname": "Ana", "lastname": "Ruiz"},
         "a phone is required: give 'phone' (E.164) or 'mobile_code' + 'mobile'"),
    ],
    ids=["lastname", "blank-firstname", "phone"],
)  # fmt: skip
def test_missing_required_contact_field(sim: WapiFlowSimulator, row: dict[str, Any], line: str) -> None:
    error = raised(upsert(row))
    assert str(error) == upsert_refusal(line)
    assert_nothing_sent(sim)


def test_unknown_contact_key(sim: WapiFlowSimulator) -> None:
    error = raised(upsert({"firstname": "Ana", "lastname": "Ruiz", "phone": "+34600111222", "email": "ana@x.es"}))
    assert str(error) == upsert_refusal(f"unknown key 'email' (allowed: {ALLOWED_CONTACT_KEYS})")
    assert_nothing_sent(sim)


def test_every_bad_row_is_listed_with_its_position(sim: WapiFlowSimulator) -> None:
    good = {"firstname": "Ana", "lastname": "Ruiz", "phone": "+34600111222"}
    error = raised(upsert(good, {**good, "phone": "+3460011"}, good, {"firstname": "Eva", "mobile": "600111223"}))
    assert str(error) == (
        "2 of 4 contact rows are invalid (max_failures allows 0); nothing was written:\n"
        "  row 1: 'phone' +****011 is too short\n"
        "  row 3: 'lastname' is required\n"
        "  row 3: 'mobile_code' is missing: give 'phone' (E.164) or 'mobile_code' + 'mobile'"
    )
    assert_nothing_sent(sim)


ONLY_APPROVED = "only approved templates can be sent"


# --- templates: only WapiFlow knows them, so the template list is read and nothing else ----------------


@pytest.mark.parametrize(
    ("template", "error_class", "message"),
    [
        ("nope", WapiFlowNotFoundError, "WapiFlow has no template 'nope' in this account"),
        ("summer_sale", WapiFlowInputError, f"template 'summer_sale' (id 5) is pending: {ONLY_APPROVED}"),
        ("free_money", WapiFlowInputError, f"template 'free_money' (id 6) is rejected: {ONLY_APPROVED}"),
    ],
    ids=["unknown", "pending", "rejected"],
)  # fmt: skip
def test_unusable_template(sim: WapiFlowSimulator, template: str, error_class: type, message: str) -> None:
    sim.add_contact("Ana", "Ruiz", "34", "600111222")
    error = raised(send_template(["+34600111222"], template=template))
    assert type(error) is error_class
    assert str(error) == message
    assert {(r["method"], r["path"]) for r in sim.requests()} == {("GET", "inbox/template-list")}
    assert sim.messages() == []


# --- media -------------------------------------------------------------------------------------------


def test_oversized_media(sim: WapiFlowSimulator, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG" + b"0" * (6 * 1024 * 1024))
    error = raised(send_message(["+34600111222"], message="hi", image=str(photo)))
    assert str(error) == "'image' 'photo.png' is 6.0 MB; WapiFlow accepts at most 5 MB"
    assert_nothing_sent(sim)


def test_wrong_type_of_media(sim: WapiFlowSimulator, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mov"
    clip.write_bytes(b"\x00\x00\x00\x14ftypqt  ")
    error = raised(send_message(["+34600111222"], message="hi", video=str(clip)))
    assert str(error) == "'video' 'clip.mov' must be a file of type mp4"
    assert_nothing_sent(sim)


# --- recipients --------------------------------------------------------------------------------------


@pytest.mark.parametrize("operator", ["template", "message"])
def test_empty_recipients(sim: WapiFlowSimulator, operator: str) -> None:
    # An empty list is a success with a zero summary (issue 15.5); fail_on_empty=True keeps the error.
    if operator == "template":
        operator_ = SendTemplateOperator(task_id="send", template="welcome", recipients=[], fail_on_empty=True)
    else:
        operator_ = SendMessageOperator(task_id="send", recipients=[], message="hi", fail_on_empty=True)
    error = raised(lambda: operator_.execute({}))  # type: ignore[arg-type]
    assert isinstance(error, WapiFlowInputError)
    assert str(error) == "'recipients' is empty: nothing to send (fail_on_empty=True)"
    assert_nothing_sent(sim)


# --- the connection ----------------------------------------------------------------------------------


def _connection(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    conn = json.loads(sim.connection_json(**FAST))
    conn.update(changes)
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", json.dumps({k: v for k, v in conn.items() if v is not None}))


def test_connection_of_the_wrong_type(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # An "http" connection with WapiFlow's URL and credentials is refused rather than guessed at: the
    # secret is only ever sent for a connection that says it is WapiFlow's.
    _connection(sim, monkeypatch, conn_type="http")
    error = raised(send_template(["+34600111222"]))
    assert isinstance(error, WapiFlowInputError)
    assert str(error) == (
        "connection 'wapiflow_default' has type 'http'; a WapiFlow connection has type 'wapiflow' "
        "(Base URL in host, Client ID in login, Client Secret in password)"
    )
    assert_nothing_sent(sim)


@pytest.mark.parametrize("password", ["", "   ", None], ids=["empty", "blank", "absent"])
def test_empty_client_secret(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch, password: str | None) -> None:
    _connection(sim, monkeypatch, password=password)
    error = raised(upsert({"firstname": "Ana", "lastname": "Ruiz", "phone": "+34600111222"}))
    assert isinstance(error, WapiFlowInputError)
    assert str(error) == "connection 'wapiflow_default' has no Client Secret (password)"
    assert_nothing_sent(sim)


# --- bad answers: the exception class and the exact message -------------------------------------------


@pytest.mark.wapiflow_simulator(allowed_ips=("203.0.113.7",))
def test_ip_not_whitelisted(sim: WapiFlowSimulator) -> None:
    error = raised(send_message(["+34600111222", "+34600111223"], message="hi", concurrency=1))
    assert type(error) is WapiFlowIPNotAllowedError
    assert str(error) == (
        "Stopped after 0 sent: WapiFlow refused POST inbox/send-message: IP address 127.0.0.1 is not on the "
        "API whitelist. Add IP address 127.0.0.1 to the whitelist in WapiFlow's user dashboard (API settings); "
        "every worker, triggerer and API server that calls WapiFlow needs its egress IP listed. "
        "(2 recipients not sent or unknown)"
    )
    assert sim.request_count() == 1  # the batch stops at the first refusal


def test_plan_expired(sim: WapiFlowSimulator) -> None:
    sim.set_plan("expired")
    error = raised(upsert({"firstname": "Ana", "lastname": "Ruiz", "phone": "+34600111222"}))
    assert type(error) is WapiFlowPlanError
    assert str(error) == (
        "WapiFlow refused GET contact/list (subscription_required): Your plan has expired. Please renew or "
        "purchase a new plan to regain access."
    )
    assert sim.request_count() == 1
    assert sim.contacts() == []


def test_non_json_proxy_page(sim: WapiFlowSimulator) -> None:
    sim.inject("html", status=200, body="<html><body><h1>Sign in to the proxy</h1></body></html>")
    error = raised(send_template(["+34600111222"]))
    assert type(error) is WapiFlowServerError
    assert str(error) == (
        "WapiFlow answered GET inbox/template-list with HTTP 200 and a body that is not WapiFlow JSON "
        "(a proxy or gateway page?): '<html><body><h1>Sign in to the proxy</h1></body></html>'"
    )
    assert sim.request_count() == 2  # a read: retried once (max_retries=1), then reported


def test_non_json_gateway_error_page(sim: WapiFlowSimulator) -> None:
    sim.inject("html", status=502)
    error = raised(send_template(["+34600111222"]))
    assert type(error) is WapiFlowServerError
    assert str(error) == "WapiFlow answered GET inbox/template-list with HTTP 502: non-JSON body."
    assert sim.request_count() == 2


def test_timeout_of_a_send(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    sim.add_contact("Ana", "Ruiz", "34", "600111222")
    _connection(sim, monkeypatch, extra={**FAST, "timeout": 0.3})
    sim.inject("delay", seconds=1.0, times=1)  # a slow server: it answers, and sends, after the client gave up
    error = raised(lambda: WapiFlowHook().send_message("34", "600111222", "hi"))
    assert type(error) is WapiFlowConnectionError
    assert str(error) == (
        "POST inbox/send-message: the answer from WapiFlow was lost (ReadTimeout). The message may have been sent."
    )
    assert error.outcome.value == "unknown"
    assert sim.request_count() == 1  # never repeated: it may have been sent
