"""WapiFlowHook against the simulator over real HTTP: every method, every error class, every server bug."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import set_connection, template_id_of

from airflow_provider_wapiflow.exceptions import (
    SendOutcome,
    WapiFlowAuthError,
    WapiFlowConnectionError,
    WapiFlowInputError,
    WapiFlowIPNotAllowedError,
    WapiFlowMetaError,
    WapiFlowNotAContactError,
    WapiFlowNotFoundError,
    WapiFlowPlanError,
    WapiFlowRateLimitError,
    WapiFlowServerError,
    WapiFlowValidationError,
)
from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook
from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.testing import WapiFlowSimulator

SPAIN = ("34", "600111222")
MEXICO = ("52", "5512345678")


@pytest.fixture
def hook(wapiflow_connection: WapiFlowSimulator) -> WapiFlowHook:
    return WapiFlowHook()


# --- contacts ------------------------------------------------------------------------------------


def test_list_contacts_returns_the_laravel_paginator(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    for i in range(3):
        sim.add_contact("Ana", f"Ruiz{i}", "34", f"60011122{i}")
    page = hook.list_contacts(page=1, per_page=2)
    assert page["total"] == 3
    assert page["per_page"] == 2
    assert page["last_page"] == 2
    assert [c["lastname"] for c in page["data"]] == ["Ruiz2", "Ruiz1"]  # newest first
    assert sim.requests()[-1]["query"] == {"page": "1", "paginate": "2"}


def test_iter_contacts_streams_every_page(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    for i in range(45):
        sim.add_contact("Ana", f"N{i}", "34", f"6001{i:05d}")
    sim.clear_requests()
    contacts = list(hook.iter_contacts(per_page=10))
    assert len(contacts) == 45
    assert [c["lastname"] for c in contacts] == [f"N{i}" for i in reversed(range(45))]
    assert [r["query"]["page"] for r in sim.requests()] == ["1", "2", "3", "4", "5"]


def test_create_contact_sends_the_reference_field_names(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    contact = hook.create_contact("Ana", "Ruiz", *SPAIN, city="Madrid", post_code="28001", address="Gran Via 1")
    assert contact["id"] > 0
    stored = sim.get_contact(*SPAIN)
    assert stored is not None
    assert stored["address"] == {
        "city": "Madrid",
        "state": "",
        "post_code": "28001",
        "address": "Gran Via 1",
        "country": "Spain",
    }


def test_update_contact_is_a_full_replace(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    existing = sim.add_contact("Ana", "Ruiz", *SPAIN, city="Madrid", post_code="28001")
    updated = hook.update_contact(existing["id"], "Ana María", "Ruiz", *SPAIN, city="Sevilla")
    assert updated["firstname"] == "Ana María"
    assert updated["address"]["city"] == "Sevilla"
    assert updated["address"]["post_code"] == ""  # not sent, so WapiFlow blanked it


def test_create_with_a_taken_mobile_is_a_validation_error(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    with pytest.raises(WapiFlowValidationError) as caught:
        hook.create_contact("Eva", "Gil", *SPAIN)
    assert caught.value.messages == ["The mobile has already been taken."]
    assert caught.value.remark == "validation_error"
    assert caught.value.outcome is SendOutcome.NOT_SENT


def test_update_unknown_contact_is_not_found(hook: WapiFlowHook) -> None:
    with pytest.raises(WapiFlowNotFoundError, match="The contact is not found"):
        hook.update_contact(999, "Ana", "Ruiz", *SPAIN)


def test_delete_contact_and_its_restrictions(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    plain = sim.add_contact("Ana", "Ruiz", *SPAIN)
    talked_to = sim.add_contact("Eva", "Gil", *MEXICO)
    sim.simulate_reply(*MEXICO, text="hola")
    hook.delete_contact(plain["id"])
    assert sim.get_contact(*SPAIN) is None
    with pytest.raises(WapiFlowValidationError, match="Unable to delete contact with messages"):
        hook.delete_contact(talked_to["id"])
    with pytest.raises(WapiFlowNotFoundError, match="The contact not found"):
        hook.delete_contact(plain["id"])


def test_contact_search_bug_gets_a_clear_error(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    with pytest.raises(WapiFlowServerError) as caught:
        hook.list_contacts(search="Ana")
    assert "contact search is broken on the server" in str(caught.value)
    assert sim.request_count() == 1  # a deterministic server bug is not retried


@pytest.mark.wapiflow_simulator(patched=True)
def test_contact_search_works_on_a_patched_server(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.add_contact("Eva", "Gil", *MEXICO)
    assert [c["firstname"] for c in hook.iter_contacts(search="Eva")] == ["Eva"]


def test_contact_input_is_checked_before_any_request(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    with pytest.raises(WapiFlowInputError, match="'mobile_code' '\\+34' must be the country code without '\\+'"):
        hook.create_contact("Ana", "Ruiz", "+34", "600111222")
    with pytest.raises(WapiFlowInputError, match="'firstname' is required"):
        hook.create_contact("", "Ruiz", *SPAIN)
    with pytest.raises(WapiFlowInputError, match=r"'mobile' .* must contain digits only"):
        hook.create_contact("Ana", "Ruiz", "34", "600-111-222")
    assert sim.request_count() == 0


# --- conversations -------------------------------------------------------------------------------


def test_conversations_list_details_and_status(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.add_contact("Eva", "Gil", *MEXICO)
    sim.simulate_reply(*SPAIN, text="hola")
    conversation = sim.simulate_reply(*MEXICO, text="hello")
    listed = hook.list_conversations()
    assert sorted(c["contact"]["firstname"] for c in listed["data"]) == ["Ana", "Eva"]
    assert [c["id"] for c in hook.iter_conversations(search=MEXICO[1])] == [conversation["id"]]

    hook.set_conversation_status(conversation["id"], ConversationStatus.DONE)
    details = hook.get_conversation(conversation["id"])
    assert details["status"] == ConversationStatus.DONE
    assert details["contact"]["mobile"] == MEXICO[1]
    assert [c["id"] for c in hook.iter_conversations(status=ConversationStatus.DONE)] == [conversation["id"]]


def test_conversation_not_found(hook: WapiFlowHook) -> None:
    with pytest.raises(WapiFlowNotFoundError, match="Conversation not found"):
        hook.get_conversation(12345)
    with pytest.raises(WapiFlowNotFoundError, match="Conversation not found"):
        hook.set_conversation_status(12345, ConversationStatus.DONE)


def test_unread_status_is_refused_before_any_request(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    with pytest.raises(WapiFlowInputError, match="UNREAD \\(4\\) cannot be set through the API"):
        hook.set_conversation_status(1, ConversationStatus.UNREAD)
    assert sim.request_count() == 0


# --- sends ---------------------------------------------------------------------------------------


def test_send_template_counts_the_post_send_exception_as_sent(
    hook: WapiFlowHook, sim: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.add_contact("Eva", "Gil", *MEXICO)
    template_id = template_id_of(sim, "order_shipped")
    first = hook.send_template_message(*SPAIN, template_id, body_variables=["Ana", "A-1"])
    second = hook.send_template_message(*MEXICO, template_id, body_variables=["Eva", "A-2"])
    assert first == {"conversation_id": None}
    assert second == {"conversation_id": None}
    assert sim.requests()[-1]["remark"] == "exception"  # the server really answered with its bug
    sent = sim.messages(direction="sent", template_id=template_id)
    assert [(m["mobile"], m["body_variables"]) for m in sent] == [
        (SPAIN[1], ["Ana", "A-1"]),
        (MEXICO[1], ["Eva", "A-2"]),
    ]
    assert debug_logs().count("known post-send error") == 1


@pytest.mark.wapiflow_simulator(patched=True)
def test_send_template_on_a_patched_server_returns_the_conversation(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    result = hook.send_template_message(*SPAIN, template_id_of(sim, "order_shipped"), body_variables=["Ana", "A-1"])
    conversation_id = result["conversation_id"]
    assert isinstance(conversation_id, int)
    assert hook.get_conversation(conversation_id)["contact"]["mobile"] == SPAIN[1]


def test_sending_to_a_non_contact_raises_not_a_contact(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    with pytest.raises(WapiFlowNotAContactError) as caught:
        hook.send_template_message(*SPAIN, template_id_of(sim, "welcome"))
    error = caught.value
    assert isinstance(error, WapiFlowNotFoundError)
    assert error.outcome is SendOutcome.NOT_SENT
    assert "not a WapiFlow contact" in str(error)
    assert "Create the contact first" in str(error)
    with pytest.raises(WapiFlowNotAContactError):
        hook.send_message(*SPAIN, message="hi")
    assert sim.messages() == []


def test_send_to_unapproved_template_is_not_found(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    pending = next(t["id"] for t in sim.templates() if t["status"] == 0)
    with pytest.raises(WapiFlowNotFoundError, match="The template is not found") as caught:
        hook.send_template_message(*SPAIN, pending)
    assert caught.value.outcome is SendOutcome.NOT_SENT


def test_meta_outage_is_not_sent_and_the_leaked_token_is_redacted(
    hook: WapiFlowHook, sim: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.meta_outage = True
    with pytest.raises(WapiFlowMetaError) as caught:
        hook.send_template_message(*SPAIN, template_id_of(sim, "welcome"))
    error = caught.value
    assert error.outcome is SendOutcome.NOT_SENT
    assert error.transient
    assert "access_token=***" in str(error)
    assert sim.meta_access_token not in str(error)
    assert sim.meta_access_token not in " ".join(error.messages)
    assert sim.meta_access_token not in debug_logs()
    assert sim.request_count() == 1  # not retried by the hook: the operator reports it as failed


def test_meta_rejection_is_not_sent_and_not_transient(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    with pytest.raises(WapiFlowMetaError, match="Meta rejected the message") as caught:
        hook.send_template_message(*SPAIN, template_id_of(sim, "order_shipped"), body_variables=["only one"])
    assert not caught.value.transient
    assert caught.value.outcome is SendOutcome.NOT_SENT


def test_send_message_text_location_and_media(hook: WapiFlowHook, sim: WapiFlowSimulator, tmp_path: Path) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    text = hook.send_message(*SPAIN, message="Your order shipped")
    assert text["message"]["message"] == "Your order shipped"
    assert isinstance(text["conversation_id"], int)
    location = hook.send_message(*SPAIN, latitude=40.4168, longitude=-3.7038)
    assert location["message"]["message_type"] == 8
    picture = tmp_path / "invoice.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    image = hook.send_message(*SPAIN, message="caption", image=picture)
    assert image["message"]["media_caption"] == "caption"
    assert [m["media_type"] for m in sim.messages(direction="sent")][-1] is not None
    assert len(sim.messages(direction="sent")) == 3


def test_send_message_input_is_checked_before_any_request(
    hook: WapiFlowHook, sim: WapiFlowSimulator, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (5 * 1024 * 1024 + 1))
    gif = tmp_path / "anim.gif"
    gif.write_bytes(b"GIF89a")
    cases = [
        ({"latitude": 40.0}, "'latitude' and 'longitude' must be given together"),
        ({}, "nothing to send"),
        ({"image": big}, "'image' 'big.png' is 5.0 MB; WapiFlow accepts at most 5 MB"),
        ({"image": gif}, "'image' 'anim.gif' must be a file of type jpg, jpeg, png"),
        ({"image": tmp_path / "missing.png"}, "'image' 'missing.png' cannot be read"),
        ({"message": "x", "image": big, "video": gif}, "one media file per message"),
    ]
    for kwargs, expected in cases:
        with pytest.raises(WapiFlowInputError) as caught:
            hook.send_message(*SPAIN, **kwargs)  # type: ignore[arg-type]
        assert expected in str(caught.value)
    assert sim.request_count() == 0


def test_send_message_from_an_unknown_account(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    with pytest.raises(WapiFlowNotFoundError, match="The whatsapp account is not found"):
        hook.send_message(*SPAIN, message="hi", from_number="19999999999")


def test_blocked_contact_cannot_be_messaged(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN, is_blocked=True)
    with pytest.raises(WapiFlowNotFoundError, match="have been blocked"):
        hook.send_message(*SPAIN, message="hi")


# --- templates and connection test ---------------------------------------------------------------


def test_templates_every_status(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    templates = list(hook.iter_templates(per_page=2))
    assert [t["id"] for t in templates] == sorted(t["id"] for t in sim.templates())
    assert {t["status"] for t in templates} == {0, 1, 2, 3}
    assert hook.get_template("order_shipped")["id"] == template_id_of(sim, "order_shipped")
    # An int (or "id:<n>") is an id; a digit string is a name (it used to pick the id: issue 13.5).
    assert hook.get_template(templates[0]["id"])["name"] == templates[0]["name"]
    assert hook.get_template(f"id:{templates[0]['id']}")["name"] == templates[0]["name"]
    with pytest.raises(WapiFlowNotFoundError, match="no template 'nope'"):
        hook.get_template("nope")


def test_test_connection_is_read_only(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    ok, message = hook.test_connection()
    assert ok, message
    assert message.startswith(f"Connected to WapiFlow at {sim.base_url}")
    assert {r["method"] for r in sim.requests()} == {"GET"}


def test_test_connection_with_a_wrong_secret(monkeypatch: pytest.MonkeyPatch, sim: WapiFlowSimulator) -> None:
    payload = json.loads(sim.connection_json())
    payload["password"] = "wrong-secret"
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", json.dumps(payload))
    ok, message = WapiFlowHook().test_connection()
    assert not ok
    assert "Invalid credentials" in message
    assert "Client Secret" in message
    assert "wrong-secret" not in message


# --- auth, plan, routing -------------------------------------------------------------------------


def test_wrong_secret_is_an_auth_error_and_not_retried(monkeypatch: pytest.MonkeyPatch, sim: WapiFlowSimulator) -> None:
    payload = json.loads(sim.connection_json())
    payload["password"] = "wrong-secret"
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", json.dumps(payload))
    with pytest.raises(WapiFlowAuthError) as caught:
        WapiFlowHook().list_templates()
    assert caught.value.http_status == 401
    assert caught.value.messages == ["Invalid credentials"]
    assert "wrong-secret" not in str(caught.value)
    assert sim.request_count() == 1


@pytest.mark.wapiflow_simulator(allowed_ips=("203.0.113.7",))
def test_ip_not_whitelisted_names_the_ip(hook: WapiFlowHook) -> None:
    with pytest.raises(WapiFlowIPNotAllowedError) as caught:
        hook.list_templates()
    assert caught.value.ip == "127.0.0.1"
    assert "Add IP address 127.0.0.1 to the whitelist" in str(caught.value)


@pytest.mark.parametrize(
    ("plan", "text"),
    [
        ("none", "without an active plan"),
        ("expired", "Your plan has expired"),
        ("no_api", "does not support API access"),
    ],
)
def test_plan_errors(hook: WapiFlowHook, sim: WapiFlowSimulator, plan: str, text: str) -> None:
    sim.set_plan(plan)
    with pytest.raises(WapiFlowPlanError, match=text):
        hook.list_contacts()


def test_wrong_base_url_path_is_explained(monkeypatch: pytest.MonkeyPatch, sim: WapiFlowSimulator) -> None:
    payload = json.loads(sim.connection_json())
    payload["host"] = sim.url + "/api"
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", json.dumps(payload))
    with pytest.raises(WapiFlowNotFoundError, match="ends in /external-api"):
        WapiFlowHook().list_contacts()


def test_extern_api_typo_is_refused_before_any_request(monkeypatch: pytest.MonkeyPatch, sim: WapiFlowSimulator) -> None:
    payload = json.loads(sim.connection_json())
    payload["host"] = sim.url + "/extern-api"
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", json.dumps(payload))
    with pytest.raises(WapiFlowInputError, match="/extern-api"):
        WapiFlowHook().list_contacts()
    assert sim.request_count() == 0


def test_maintenance_mode_is_a_server_error(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.maintenance = True
    with pytest.raises(WapiFlowServerError, match="maintenance mode"):
        hook.list_contacts()


# --- retries -------------------------------------------------------------------------------------


def test_reads_are_retried_through_5xx_drops_and_proxy_pages(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.inject("error", status=502, times=1, path="inbox/template-list")
    sim.inject("drop", times=1, path="inbox/template-list")
    sim.inject("html", times=1, path="inbox/template-list")
    assert hook.list_templates()["total"] > 0
    assert sim.request_count() == 4
    assert hook.requests_made == 4


def test_non_json_answer_is_a_server_error_not_a_decode_error(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.inject("html", status=502)
    with pytest.raises(WapiFlowServerError, match="HTTP 502: non-JSON body"):
        hook.list_templates()
    assert sim.request_count() == 4  # first try + max_retries (3) from the test connection


def test_rate_limit_honours_retry_after(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject("error", status=429, retry_after=0.4, times=1, path="inbox/send-template-message")
    started = time.monotonic()
    hook.send_template_message(*SPAIN, template_id_of(sim, "welcome"))
    assert time.monotonic() - started >= 0.4
    assert sim.request_count() == 2
    assert len(sim.messages(direction="sent")) == 1


def test_rate_limit_longer_than_allowed_fails_at_once(monkeypatch: pytest.MonkeyPatch, sim: WapiFlowSimulator) -> None:
    set_connection(monkeypatch, sim, extra={"max_retry_after": 1})
    sim.inject("error", status=429, retry_after=3600)
    with pytest.raises(WapiFlowRateLimitError) as caught:
        WapiFlowHook().list_contacts()
    assert caught.value.retry_after == pytest.approx(3600)
    assert caught.value.outcome is SendOutcome.NOT_SENT
    assert sim.request_count() == 1


def test_send_answered_503_is_retried_and_sent_once(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject("error", status=503, times=2, path="inbox/send-message")
    hook.send_message(*SPAIN, message="hello")
    assert sim.request_count(path_prefix="inbox/send-message") == 3
    assert len(sim.messages(direction="sent")) == 1


def test_send_answered_500_is_not_retried_and_unknown(hook: WapiFlowHook, sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject("error", status=500, times=1, process=True, path="inbox/send-template-message")
    with pytest.raises(WapiFlowServerError) as caught:
        hook.send_template_message(*SPAIN, template_id_of(sim, "welcome"))
    assert caught.value.outcome is SendOutcome.UNKNOWN
    assert "may have been sent" in str(caught.value)
    assert sim.request_count() == 1
    assert len(sim.messages(direction="sent")) == 1  # it was sent: a retry would have duplicated it


@pytest.mark.parametrize("processed", [True, False])
def test_send_with_a_dropped_connection_is_unknown_and_not_retried(
    hook: WapiFlowHook, sim: WapiFlowSimulator, processed: bool
) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject("drop", times=1, process=processed, path="inbox/send-template-message")
    with pytest.raises(WapiFlowConnectionError) as caught:
        hook.send_template_message(*SPAIN, template_id_of(sim, "welcome"))
    assert caught.value.outcome is SendOutcome.UNKNOWN
    assert sim.request_count() == 1
    assert len(sim.messages(direction="sent")) == (1 if processed else 0)


def test_send_timeout_is_unknown(monkeypatch: pytest.MonkeyPatch, sim: WapiFlowSimulator) -> None:
    # A send waits send_timeout (default 60 s), not timeout (issue 12.5).
    set_connection(monkeypatch, sim, extra={"send_timeout": 0.3})
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject("delay", seconds=1.0, times=1, path="inbox/send-message")
    with pytest.raises(WapiFlowConnectionError) as caught:
        WapiFlowHook().send_message(*SPAIN, message="hello")
    assert caught.value.outcome is SendOutcome.UNKNOWN
    assert sim.request_count() == 1


def test_connect_failure_is_not_sent_and_retried(monkeypatch: pytest.MonkeyPatch, sim: WapiFlowSimulator) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    payload = json.loads(sim.connection_json())
    payload["host"] = f"http://127.0.0.1:{closed_port}/external-api"
    monkeypatch.setenv("AIRFLOW_CONN_WAPIFLOW_DEFAULT", json.dumps(payload))
    hook = WapiFlowHook()
    with pytest.raises(WapiFlowConnectionError) as caught:
        hook.send_message(*SPAIN, message="hello")
    assert caught.value.outcome is SendOutcome.NOT_SENT
    assert "could not connect" in str(caught.value)
    assert hook.requests_made == 4  # 1 + max_retries


# --- secret hygiene ------------------------------------------------------------------------------


def test_client_secret_never_reaches_logs_reprs_or_errors(
    hook: WapiFlowHook, sim: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject("error", status=503, times=1)
    errors: list[str] = []
    hook.list_contacts()
    hook.send_template_message(*SPAIN, template_id_of(sim, "welcome"))
    for call in (
        lambda: hook.get_conversation(999),
        lambda: hook.send_message("34", "699999999", message="x"),
    ):
        try:
            call()
        except Exception as error:
            errors.append(f"{error!s} {error!r}")
    logs = debug_logs()
    assert "GET contact/list -> HTTP 200" in logs  # the DEBUG lines were really captured
    text = logs + repr(hook) + repr(hook.settings) + " ".join(errors)
    assert sim.client_secret not in text
    assert SPAIN[1] not in logs
    assert len(errors) == 2


def test_phone_searches_are_masked_in_http_library_debug_logs(
    hook: WapiFlowHook, sim: WapiFlowSimulator, debug_logs: Callable[[], str]
) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.simulate_reply(*SPAIN, text="hola")
    assert len(list(hook.iter_conversations(search=SPAIN[1]))) == 1
    logs = debug_logs()
    assert "search=******222" in logs  # urllib3 logged the request URL, masked
    assert SPAIN[1] not in logs
