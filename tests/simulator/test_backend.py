"""The simulator's backend without HTTP: the server's rules and bugs (docs/server-bugs.rst), called directly."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_wapiflow.testing.backend import (
    BLOCKED,
    CONTACT_LIMIT,
    UNDEFINED_CONVERSATION_ID,
    BackendError,
    NotFound,
    ServerException,
    ValidationFailed,
    WapiFlowBackend,
)
from airflow_provider_wapiflow.testing.state import MESSAGE_TYPES, SimConfig, SimState

SITE = "http://127.0.0.1:8080"
PATH = f"{SITE}/external-api/contact/list"
NUMBER = {"mobile_code": "34", "mobile": "600111222"}
TEMPLATE = {"template_id": "1", **NUMBER, "body_variables": ["Ana", "A-1"]}  # seed template order_shipped


def backend(patched: bool = False) -> WapiFlowBackend:
    return WapiFlowBackend(SimState(SimConfig(patched=patched)))


def with_contact(patched: bool = False, **options: Any) -> WapiFlowBackend:
    made = backend(patched)
    made.state.add_contact("Ana", "Ruiz", NUMBER["mobile_code"], NUMBER["mobile"], **options)
    return made


def test_a_template_send_fails_after_it_went_out_on_the_real_server() -> None:
    """docs/server-bugs.rst#bug-post-send-exception: stored and delivered, then the exception."""
    real = with_contact()
    with pytest.raises(ServerException) as caught:
        real.send_template(TEMPLATE)
    assert caught.value.messages == [UNDEFINED_CONVERSATION_ID]
    (message,) = real.state.messages.values()
    assert message.rendered == "Hi Ana, your order A-1 has shipped."
    assert [d["outcome"] for d in real.deliveries.snapshot()] == ["success"]

    patched = with_contact(patched=True)
    assert patched.send_template(TEMPLATE) == next(iter(patched.state.conversations))


@pytest.mark.parametrize("send", ["send_template", "send_message"])
def test_a_number_that_is_not_a_contact(send: str) -> None:
    """docs/server-bugs.rst#bug-not-a-contact: the real server fails before Meta; patched creates it."""
    fields = TEMPLATE if send == "send_template" else {"message": "Hi", **NUMBER}
    real = backend()
    with pytest.raises(ServerException, match="Column 'contact_id' cannot be null"):
        getattr(real, send)(fields)
    assert (real.state.contacts, real.deliveries.snapshot()) == ({}, [])

    patched = backend(patched=True)
    getattr(patched, send)(fields)
    (contact,) = patched.state.contacts.values()
    assert (contact.mobile_code, contact.mobile, contact.firstname) == ("34", "600111222", "")


@pytest.mark.parametrize(("patched", "search", "found"), [(True, "Ruiz", 1), (True, "600111", 1), (True, "Gil", 0)])
def test_contact_search_works_on_a_patched_server(patched: bool, search: str, found: int) -> None:
    page = with_contact(patched).list_contacts({"search": search}, site=SITE, page_path=PATH)
    assert page["total"] == found


def test_contact_search_fails_on_the_real_server() -> None:
    """docs/server-bugs.rst#bug-contact-search: the query names a column that does not exist."""
    with pytest.raises(ServerException, match="Unknown column 'email'"):
        with_contact().list_contacts({"search": "Ruiz"}, site=SITE, page_path=PATH)
    assert with_contact().list_contacts({}, site=SITE, page_path=PATH)["total"] == 1


@pytest.mark.parametrize(
    ("send", "fields", "url_tail"),
    [
        ("send_template", TEMPLATE, "/messages?access_token=EAAGsimulatedMetaAccessToken0123456789"),
        ("send_message", {"message": "Hi", **NUMBER}, "/messages"),
    ],
)
def test_a_meta_outage_names_the_graph_url(send: str, fields: dict[str, Any], url_tail: str) -> None:
    """docs/server-bugs.rst#bug-meta-outage: the template path leaks the token in the URL."""
    down = with_contact()
    down.state.meta_outage = True
    with pytest.raises(ServerException) as caught:
        getattr(down, send)(fields)
    (text,) = caught.value.messages
    assert text.startswith("cURL error 6: Could not resolve host: graph.facebook.com")
    assert text.endswith(f"for https://graph.facebook.com/v22.0/109876543210987{url_tail}")
    assert down.state.messages == {}


@pytest.mark.parametrize(("patched", "conversations"), [(False, 1), (True, 0)])
def test_a_refused_send_leaves_an_empty_conversation_on_the_real_server(patched: bool, conversations: int) -> None:
    """docs/server-bugs.rst#bug-empty-conversations."""
    blocked = with_contact(patched, is_blocked=True)
    with pytest.raises(NotFound) as caught:
        blocked.send_message({"message": "Hi", **NUMBER})
    assert caught.value.messages == [BLOCKED]
    assert len(blocked.state.conversations) == conversations


@pytest.mark.parametrize(
    ("latitude", "longitude", "message_type"),
    [
        ("40.4168", "-3.7038", MESSAGE_TYPES["location"]),
        ("0.0", "-3.7038", MESSAGE_TYPES["location"]),
        ("0", "-3.7038", MESSAGE_TYPES["text"]),
        ("40.4168", "0", MESSAGE_TYPES["text"]),
        ("40.4168", None, MESSAGE_TYPES["text"]),
    ],
)
def test_a_zero_or_lone_coordinate_sends_an_empty_text(latitude: str, longitude: str | None, message_type: int) -> None:
    """docs/server-bugs.rst#bug-zero-coordinate: PHP's ``$lat && $long`` is false for "0"."""
    fields = {"latitude": latitude, "longitude": longitude, **NUMBER}
    sent = with_contact().send_message({k: v for k, v in fields.items() if v is not None})
    assert sent["message"]["message_type"] == message_type
    assert (sent["message"]["location"] is None) == (message_type == MESSAGE_TYPES["text"])


@pytest.mark.parametrize("patched", [False, True])
def test_every_update_spends_the_contact_allowance(patched: bool) -> None:
    """docs/server-bugs.rst#bug-update-allowance, in both modes."""
    made = with_contact(patched)
    made.state.contact_limit = 2
    (contact,) = made.state.contacts.values()
    for name in ("Eva", "Eve"):
        made.update_contact({"firstname": name, "lastname": "Ruiz", **NUMBER}, str(contact.id), site=SITE)
    with pytest.raises(BackendError) as caught:
        made.store_contact(
            {"firstname": "Luis", "lastname": "Gil", "mobile_code": "34", "mobile": "600999888"}, site=SITE
        )
    assert (caught.value.remark, caught.value.messages) == ("contact_limit_error", [CONTACT_LIMIT])


@pytest.mark.parametrize(
    ("fields", "messages"),
    [
        (
            {},
            [
                "The firstname field is required.",
                "The lastname field is required.",
                "The mobile code field is required.",
                "The mobile field is required.",
            ],
        ),
        (
            {"firstname": "Ana", "lastname": "Ruiz", "mobile_code": "34", "mobile": "+600"},
            ["The mobile format is invalid."],
        ),
        ({"firstname": "Ana", "lastname": "Ruiz", **NUMBER}, ["The mobile has already been taken."]),
    ],
)
def test_store_contact_validation(fields: dict[str, Any], messages: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        with_contact().store_contact(fields, site=SITE)
    assert (caught.value.remark, caught.value.messages) == ("validation_error", messages)
