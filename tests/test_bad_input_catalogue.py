"""
The bad-input and bad-answer catalogue: for each, the exact message a user sees, and for every bad
input, that WapiFlow received no request (or, where only WapiFlow knows the answer, no write and no send).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support import set_connection, task_context

from airflow_provider_wapiflow.exceptions import (
    WapiFlowConnectionError,
    WapiFlowError,
    WapiFlowInputError,
    WapiFlowIPNotAllowedError,
    WapiFlowPlanError,
    WapiFlowServerError,
    WapiFlowTemplateNotFoundError,
)
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook
from airflow_provider_wapiflow.notifications.wapiflow import WapiFlowNotifier
from airflow_provider_wapiflow.operators.contacts import UpsertContactsOperator
from airflow_provider_wapiflow.operators.messages import SendMessageOperator, SendTemplateOperator
from airflow_provider_wapiflow.testing import WapiFlowSimulator

ALLOWED_CONTACT_KEYS = "firstname, lastname, phone, mobile_code, mobile, city, state, post_code, address, ref"
FAST = {"max_retries": 1, "backoff_base": 0.01, "backoff_max": 0.05}


pytestmark = pytest.mark.sim_connection(**FAST)


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
    return lambda: SendTemplateOperator(task_id="send", template=template, recipients=recipients).execute(
        task_context()
    )


def send_message(recipients: Any, **kwargs: Any) -> Callable[[], Any]:
    operator = SendMessageOperator(task_id="send", recipients=recipients, **kwargs)
    return lambda: operator.execute(task_context())


def upsert(*rows: dict[str, Any]) -> Callable[[], Any]:
    return lambda: UpsertContactsOperator(task_id="upsert", contacts=list(rows)).execute(task_context())


def send_refusal(line: str) -> str:
    return f"1 of 1 recipients are invalid:\n  recipient 1 of the input: {line}\nNothing was sent (max_failures=0)."


def upsert_refusal(line: str) -> str:
    return (
        f"1 of 1 contact rows are invalid (max_failures allows 0); nothing was written:\n  row 1 of the input: {line}"
    )


def assert_nothing_sent(sim: WapiFlowSimulator) -> None:
    assert sim.request_count() == 0
    assert sim.messages() == []
    assert sim.contacts() == []


# --- phones: every surface that takes one ------------------------------------------------------------

NO_PLUS = (
    "must be in E.164 form with a leading '+' and country code (or set default_region, e.g. 'ES', to read "
    "national numbers)"
)
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
        "  row 2 of the input: 'phone' +****011 is too short\n"
        "  row 4 of the input: 'lastname' is required\n"
        "  row 4 of the input: 'mobile_code' is missing: give 'phone' (E.164) or 'mobile_code' + 'mobile'"
    )
    assert_nothing_sent(sim)


ONLY_APPROVED = "only approved templates can be sent"


# --- templates: only WapiFlow knows them, so the template list is read and nothing else ----------------


@pytest.mark.parametrize(
    ("template", "error_class", "message"),
    [
        # issue 13.5/15.7: an unknown name is bad input and lists the approved templates
        ("nope", WapiFlowTemplateNotFoundError, "WapiFlow has no template 'nope' in this account. Approved "
         "templates: 'airflow_task_failed', 'appointment_reminder', 'order_shipped', 'order_update', 'welcome'."),
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
    error = raised(lambda: operator_.execute(task_context()))
    assert isinstance(error, WapiFlowInputError)
    assert str(error) == "'recipients' is empty: nothing to send (fail_on_empty=True)"
    assert_nothing_sent(sim)


# --- the connection ----------------------------------------------------------------------------------


def test_connection_of_the_wrong_type(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # An "http" connection with WapiFlow's URL and credentials is refused rather than guessed at: the
    # secret is only ever sent for a connection that says it is WapiFlow's.
    set_connection(monkeypatch, sim, extra=FAST, conn_type="http")
    error = raised(send_template(["+34600111222"]))
    assert isinstance(error, WapiFlowInputError)
    assert str(error) == (
        "connection 'wapiflow_default' has type 'http'; a WapiFlow connection has type 'wapiflow' "
        "(Base URL in host, Client ID in login, Client Secret in password)"
    )
    assert_nothing_sent(sim)


@pytest.mark.parametrize("password", ["", "   ", None], ids=["empty", "blank", "absent"])
def test_empty_client_secret(sim: WapiFlowSimulator, monkeypatch: pytest.MonkeyPatch, password: str | None) -> None:
    set_connection(monkeypatch, sim, extra=FAST, password=password)
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
    # A send waits send_timeout, not timeout (issue 12.5); the error names the connection (issue 15.14).
    set_connection(monkeypatch, sim, extra={**FAST, "send_timeout": 0.3})
    sim.inject("delay", seconds=1.0, times=1)  # a slow server: it answers, and sends, after the client gave up
    error = raised(lambda: WapiFlowHook().send_message("34", "600111222", "hi"))
    assert type(error) is WapiFlowConnectionError
    assert str(error).startswith("POST inbox/send-message: the answer from WapiFlow was lost (ReadTimeout")
    assert f"connection 'wapiflow_default' (Base URL {sim.base_url}" in str(error)
    assert str(error).endswith("The message may have been sent.")
    assert error.outcome.value == "unknown"
    assert sim.request_count() == 1  # never repeated: it may have been sent


# --- template variables: one validator for the operators (per recipient and operator-wide), the hook and
# the notifier; Meta refuses newlines, tabs and > 4 spaces (#132018) and a customer must never read "nan" ---

META_RULE = "Meta refuses newlines, tabs and more than 4 consecutive spaces in a template variable (#132018)"
BAD_VARIABLES = {
    "nan": (math.nan, "is NaN (a missing value, e.g. an empty cell of a pandas column)"),
    "decimal-nan": (Decimal("NaN"), "is NaN (a missing value, e.g. an empty cell of a pandas column)"),
    "inf": (math.inf, "is infinite (+inf)"),
    "minus-inf": (-math.inf, "is infinite (-inf)"),
    "bytes": (b"A-1", "is bytes: decode it to text first"),
    "bool": (True, "is a boolean (True): give the text the customer should read"),
    "none": (None, "is missing (None)"),
    "empty": ("", "is empty"),
    "blank": ("   ", "is only spaces"),
    "newline": ("A-1\nA-2", f"contains a line break: {META_RULE}"),
    "tab": ("A-1\tA-2", f"contains a tab: {META_RULE}"),
    "five-spaces": ("A-1     A-2", f"contains more than 4 consecutive spaces: {META_RULE}"),
    "date": (date(2026, 1, 1), "must be text or a number, got date"),
}
CUSTOMERS = [("Ana", "600111201"), ("Eva", "600111202"), ("Luis", "600111203")]


@pytest.fixture
def shop(sim: WapiFlowSimulator) -> WapiFlowSimulator:
    for name, mobile in CUSTOMERS:
        sim.add_contact(name, "Ruiz", "34", mobile)
    sim.add_template("shipped", "Hola {{1}}, tu pedido {{2}} ha sido enviado", header="Pedido {{1}}")
    sim.clear_requests()
    return sim


def assert_nothing_reached_a_customer(sim: WapiFlowSimulator) -> None:
    assert sim.request_count() == 0
    assert sim.messages() == []


@pytest.mark.parametrize("case", BAD_VARIABLES)
@pytest.mark.parametrize("field", ["body_variables", "header_variables"])
def test_bad_variable_of_one_recipient(shop: WapiFlowSimulator, case: str, field: str) -> None:
    value, reason = BAD_VARIABLES[case]
    recipients: list[dict[str, Any]] = [
        {"phone": f"+34{mobile}", "body_variables": [name, "A-1"], "header_variables": ["A-1"]}
        for name, mobile in CUSTOMERS
    ]
    recipients[1][field] = ["Eva", value] if field == "body_variables" else [value]
    error = raised(send_template(recipients, template="shipped"))
    position = 2 if field == "body_variables" else 1
    assert isinstance(error, WapiFlowInputError)
    assert str(error) == (
        f"1 of 3 recipients are invalid:\n  recipient 2 of the input: '{field}' {{{{{position}}}}} {reason}\n"
        "Nothing was sent (max_failures=0)."
    )
    assert_nothing_reached_a_customer(shop)


@pytest.mark.parametrize("case", BAD_VARIABLES)
def test_bad_operator_wide_variable(shop: WapiFlowSimulator, case: str) -> None:
    value, reason = BAD_VARIABLES[case]
    operator = SendTemplateOperator(
        task_id="send", template="shipped", recipients=[f"+34{m}" for _, m in CUSTOMERS],
        body_variables=["cliente", value], header_variables=["A-1"],
    )  # fmt: skip
    error = raised(lambda: operator.execute(task_context()))
    assert str(error) == (
        f"'body_variables' {{{{2}}}} {reason} (the operator's body_variables, used for every recipient "
        "without their own); nothing was sent"
    )
    assert_nothing_reached_a_customer(shop)  # not even the template list was read


@pytest.mark.parametrize("case", BAD_VARIABLES)
def test_bad_variable_in_a_hook_call(shop: WapiFlowSimulator, case: str) -> None:
    value, reason = BAD_VARIABLES[case]
    error = raised(lambda: WapiFlowHook().send_template_message("34", "600111201", 1, header_variables=[value]))
    assert str(error) == f"'header_variables' {{{{1}}}} {reason}"
    assert_nothing_reached_a_customer(shop)


@pytest.mark.parametrize("case", ["nan", "newline", "none"])
def test_bad_variable_in_the_notifier(shop: WapiFlowSimulator, case: str, debug_logs: Callable[[], str]) -> None:
    value, reason = BAD_VARIABLES[case]
    WapiFlowNotifier(recipients="+34600111201", template="shipped", body_variables=["Ana", value]).notify({})  # type: ignore[arg-type]
    assert f"WapiFlow notification NOT DELIVERED: not sent: 'body_variables' {{{{2}}}} {reason}" in debug_logs()
    assert_nothing_reached_a_customer(shop)


def test_missing_body_variables_hint_the_operator_argument(shop: WapiFlowSimulator) -> None:
    error = raised(send_template(["+34600111201", "+34600111202"], template="shipped"))
    hint = (
        "the template expects 2 body_variables ({{1}}..{{2}}), got 0: give the operator's body_variables=[...] "
        "argument (shared by every recipient) or 'body_variables' in each recipient dict"
    )
    assert f"  recipient 1 of the input: {hint}\n  recipient 2 of the input: {hint}" in str(error)
    assert shop.messages() == []
    assert {(r["method"], r["path"]) for r in shop.requests()} == {("GET", "inbox/template-list")}


def test_numbers_become_their_text(shop: WapiFlowSimulator) -> None:
    summary = SendTemplateOperator(
        task_id="send", template="shipped", recipients=["+34600111201"],
        body_variables=[7, 1234.0], header_variables=[Decimal("12.50")],
    ).execute(task_context())  # fmt: skip
    assert summary["sent"] == 1
    (message,) = shop.messages(direction="sent")
    assert (message["body_variables"], message["header_variables"]) == (["7", "1234"], ["12.50"])
