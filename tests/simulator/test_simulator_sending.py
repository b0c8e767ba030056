"""inbox/send-message and inbox/send-template-message, with the server's bugs, in both modes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from simulator_helpers import MEXICO, SPAIN, Api, template_id

from airflow_provider_wapiflow.testing import WapiFlowSimulator

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
TO_SPAIN = {"mobile_code": SPAIN[0], "mobile": SPAIN[1]}
MESSAGE_KEYS = [
    "user_id",
    "whatsapp_account_id",
    "whatsapp_message_id",
    "conversation_id",
    "cta_url_id",
    "interactive_list_id",
    "type",
    "message",
    "media_id",
    "message_type",
    "location",
    "media_caption",
    "media_filename",
    "media_url",
    "media_path",
    "mime_type",
    "media_type",
    "agent_id",
    "status",
    "ordering",
    "product_data",
    "updated_at",
    "created_at",
    "id",
]
UNDEFINED = {"remark": "exception", "status": "error", "message": ["Undefined variable $conversationId"]}


def mismatch(component: str, given: int, expected: int) -> dict[str, Any]:
    """Meta's refusal as the template path answers it: ``error_data.details``, no ``(#code)``."""
    details = f"{component}: number of localizable_params ({given}) does not match the expected number of params"
    return {"remark": "exception", "status": "error", "message": [f"{details} ({expected})"]}


NOT_A_CONTACT = re.compile(
    r"^SQLSTATE\[23000\]: Integrity constraint violation: 1048 Column 'contact_id' cannot be null "
    r"\(Connection: mysql, SQL: insert into `conversations` \(`contact_id`, `user_id`, `updated_at`, `created_at`\) "
    r"values \(\?, 1, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\)\)$"
)
BLOCKED = {
    "remark": "not_found",
    "status": "error",
    "message": ["You cannot send or receive messages with this contact because they have been blocked."],
}


def send(api: Api, **kwargs: Any) -> Any:
    return api.json("POST", "inbox/send-message", **kwargs)


def send_template(api: Api, **kwargs: Any) -> Any:
    return api.json("POST", "inbox/send-template-message", **kwargs)


def shipped(sim: WapiFlowSimulator, **extra: Any) -> dict[str, Any]:
    return {"template_id": template_id(sim, "order_shipped"), **TO_SPAIN, "body_variables[]": ["Ana", "A-1"], **extra}


# -- send-message ----------------------------------------------------------------------------------


def test_send_message_success(any_api: Api) -> None:
    sim = any_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = send(any_api, data={"message": "Hello world", **TO_SPAIN})
    assert (body["remark"], body["status"], body["message"]) == ("success", "success", ["Message sent successfully"])
    assert list(body["data"]) == ["conversation_id", "message"]
    message = body["data"]["message"]
    assert list(message) == MESSAGE_KEYS
    assert message["whatsapp_message_id"].startswith("wamid.")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", message["ordering"])
    assert {k: message[k] for k in ("type", "message", "message_type", "status", "whatsapp_account_id")} == {
        "type": 1,
        "message": "Hello world",
        "message_type": 1,
        "status": 1,
        "whatsapp_account_id": 1,
    }
    (conversation,) = sim.conversations()
    assert conversation["id"] == body["data"]["conversation_id"] == message["conversation_id"]
    assert conversation["last_message_at"] == message["created_at"]
    # The real API never sets the conversation's account; a patched server does.
    assert conversation["whatsapp_account_id"] == (1 if sim.patched else 0)
    (stored,) = sim.messages(direction="sent")
    assert stored["id"] == message["id"]
    assert (stored["message"], stored["template_id"], stored["mobile"]) == ("Hello world", None, SPAIN[1])


def test_send_message_validation(any_api: Api) -> None:
    assert send(any_api, data={}) == {
        "remark": "validation_error",
        "status": "error",
        "message": [
            "The message should not be empty.",
            "The mobile code field is required.",
            "The mobile field is required.",
        ],
    }
    body = send(any_api, data={"message": "x", "mobile_code": "34", "mobile": "+34600", "cta_url_id": "1.5"})
    assert body["message"] == ["The cta url id must be an integer.", "The mobile format is invalid."]


@pytest.mark.parametrize(
    ("location", "messages"),
    [
        ({"latitude": "0"}, ["The longitude field is required when latitude is not empty."]),
        ({"longitude": "0"}, ["The latitude field is required when longitude is 0."]),
        ({"longitude": "!="}, ["The latitude field is required when longitude is !=."]),
    ],
)
def test_location_pair_rules(api: Api, location: dict[str, str], messages: list[str]) -> None:
    body = send(api, data={**TO_SPAIN, **location})
    assert body == {"remark": "validation_error", "status": "error", "message": messages}


def test_latitude_alone_sends_an_empty_text(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    message = send(api, data={**TO_SPAIN, "latitude": "40.4168"})["data"]["message"]
    assert (message["message"], message["message_type"], message["location"]) == (None, 1, None)


def test_location_message(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    data = {**TO_SPAIN, "latitude": "40.4168", "longitude": "-3.7038", "name": "Sol"}
    message = send(api, data=data)["data"]["message"]
    assert message["message_type"] == 8
    assert message["location"] == {"latitude": "40.4168", "longitude": "-3.7038", "name": "Sol", "address": ""}


def test_image_message(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = send(api, data={**TO_SPAIN, "message": "Look"}, files={"image": ("photo.png", PNG, "image/png")})
    message = body["data"]["message"]
    assert (message["message"], message["media_caption"], message["media_type"], message["mime_type"]) == (
        "Look",
        "Look",
        "image",
        "image/png",
    )
    assert message["message_type"] == 2
    assert message["media_id"].isdigit()
    assert message["media_url"].startswith("https://")
    assert message["media_path"].endswith(".png")
    assert message["media_filename"] is None


def test_document_message_keeps_its_file_name(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    message = send(api, data=TO_SPAIN, files={"document": ("invoice.pdf", PDF, "application/pdf")})["data"]["message"]
    assert (message["media_type"], message["media_filename"], message["message_type"]) == (
        "document",
        "invoice.pdf",
        4,
    )
    assert message["message"] is None


@pytest.mark.parametrize(
    ("files", "data", "messages"),
    [
        (
            {"image": ("big.png", PNG + b"\x00" * (5120 * 1024), "image/png")},
            {},
            ["The image must not be greater than 5120 kilobytes."],
        ),
        (
            {"image": ("fake.png", b"plain text", "image/png")},
            {},
            ["The image must be an image.", "The image must be a file of type: jpg, jpeg, png."],
        ),
        ({"video": ("clip.mov", PNG, "video/quicktime")}, {}, ["The video must be a file of type: mp4."]),
        (
            {},
            {"document": "invoice.pdf"},
            ["The document must be a file.", "The document must be a file of type: pdf, doc, docx."],
        ),
    ],
)
def test_media_validation(api: Api, files: dict[str, Any], data: dict[str, str], messages: list[str]) -> None:
    body = send(api, data={**TO_SPAIN, **data}, files=files or None)
    assert body == {"remark": "validation_error", "status": "error", "message": messages}


def test_audio_accepts_any_file(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    message = send(api, data=TO_SPAIN, files={"audio": ("note.ogg", b"OggS" + b"\x00" * 32, "audio/ogg")})["data"][
        "message"
    ]
    assert (message["media_type"], message["mime_type"], message["message_type"]) == ("audio", "audio/ogg", 5)


def test_from_number_must_match_exactly(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    assert sim.whatsapp_phone_number == "15550001111"
    assert send(api, data={"message": "x", **TO_SPAIN, "from_number": "15550001111"})["status"] == "success"
    not_found = {"remark": "not_found", "status": "error", "message": ["The whatsapp account is not found"]}
    assert send(api, data={"message": "x", **TO_SPAIN, "from_number": "+15550001111"}) == not_found
    sim.has_whatsapp_account = False
    assert send(api, data={"message": "x", **TO_SPAIN}) == not_found


def test_cta_and_interactive_list_are_not_found(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    assert send(api, data={**TO_SPAIN, "cta_url_id": "3"})["message"] == ["The cta url is not found"]
    assert send(api, data={**TO_SPAIN, "interactive_list_id": "3"})["message"] == ["The interactive list is not found"]


def test_not_a_contact_real_server(api: Api) -> None:
    body = send(api, data={"message": "x", **TO_SPAIN})
    assert (body["remark"], body["status"]) == ("exception", "error")
    assert NOT_A_CONTACT.match(body["message"][0]), body["message"][0]
    assert api.sim.contacts() == []
    assert api.sim.conversations() == []
    assert api.sim.messages() == []


def test_not_a_contact_patched_server_auto_creates(patched_api: Api) -> None:
    body = send(patched_api, data={"message": "x", **TO_SPAIN})
    assert body["remark"] == "success"
    contact = patched_api.sim.get_contact(*SPAIN)
    assert contact is not None
    assert (contact["firstname"], contact["lastname"], contact["full_name"]) == ("", "", "+34 600111222")
    assert contact["address"]["country"] == "Spain"
    assert patched_api.sim.conversations()[0]["contact_id"] == contact["id"]


def test_blocked_contact_leaves_an_empty_conversation_on_the_real_server(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN, is_blocked=True)
    assert send(api, data={"message": "x", **TO_SPAIN}) == BLOCKED
    (conversation,) = api.sim.conversations()
    assert (conversation["status"], conversation["whatsapp_account_id"], conversation["last_message_at"]) == (
        0,
        0,
        None,
    )
    assert api.sim.messages() == []


def test_blocked_contact_on_a_patched_server_leaves_nothing(patched_api: Api) -> None:
    patched_api.sim.add_contact("Ana", "Ruiz", *SPAIN, is_blocked=True)
    assert send(patched_api, data={"message": "x", **TO_SPAIN}) == BLOCKED
    assert patched_api.sim.conversations() == []


def test_meta_outage_on_send_message(any_api: Api) -> None:
    sim = any_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.meta_outage = True
    graph = "https://graph.facebook.com/v22.0/109876543210987"
    curl = (
        "cURL error 6: Could not resolve host: graph.facebook.com "
        "(see https://curl.haxx.se/libcurl/c/libcurl-errors.html) for "
    )
    assert send(any_api, data={"message": "x", **TO_SPAIN}) == {
        "remark": "exception",
        "status": "error",
        "message": [f"{curl}{graph}/messages"],
    }
    image = send(any_api, data=TO_SPAIN, files={"image": ("p.png", PNG, "image/png")})
    assert image["message"] == [f"{curl}{graph}/media"]
    assert sim.messages() == []
    # The real server created the conversation before calling Meta (docs/server-bugs.rst#bug-empty-conversations).
    assert len(sim.conversations()) == (0 if sim.patched else 1)
    assert sim.meta_access_token not in str(image)


# -- send-template-message -------------------------------------------------------------------------


def test_template_send_real_server_answers_exception_after_sending(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    assert send_template(api, data=shipped(sim)) == UNDEFINED
    (message,) = sim.messages(direction="sent", template_id=template_id(sim, "order_shipped"))
    assert message["body_variables"] == ["Ana", "A-1"]
    assert message["header_variables"] == []
    assert message["rendered"] == "Hi Ana, your order A-1 has shipped."
    (conversation,) = sim.conversations()
    assert conversation["last_message_at"] == message["created_at"]
    assert conversation["whatsapp_account_id"] == 0  # API conversations keep account 0


def test_template_send_patched_server_answers_template_sent(patched_api: Api) -> None:
    sim = patched_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = send_template(patched_api, json={**shipped(sim), "body_variables": ["Ana", "A-1"]})
    (conversation,) = sim.conversations()
    assert body == {
        "remark": "template_sent",
        "status": "success",
        "message": ["Message sent successfully"],
        "data": {"conversation_id": conversation["id"]},
    }


def test_template_validation(any_api: Api) -> None:
    assert send_template(any_api, data={"testmplate_id": "1"}) == {
        "remark": "validation_error",
        "status": "error",
        "message": [
            "The template id field is required.",
            "The mobile code field is required.",
            "The mobile field is required.",
        ],
    }


@pytest.mark.parametrize("name", ["summer_sale", "free_money", "old_newsletter", None])
def test_only_approved_templates_can_be_sent(any_api: Api, name: str | None) -> None:
    sim = any_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    tid = template_id(sim, name) if name else 999
    assert send_template(any_api, data={"template_id": tid, **TO_SPAIN}) == {
        "remark": "not_found",
        "status": "error",
        "message": ["The template is not found"],
    }
    assert sim.messages() == []
    # The real server created the conversation before the template check (docs/server-bugs.rst#bug-empty-conversations).
    assert len(sim.conversations()) == (0 if sim.patched else 1)


def test_not_a_contact_fails_before_the_template_check_on_the_real_server(api: Api) -> None:
    body = send_template(api, data={"template_id": 999, **TO_SPAIN})
    assert NOT_A_CONTACT.match(body["message"][0])
    assert (api.sim.contacts(), api.sim.conversations(), api.sim.messages()) == ([], [], [])


def test_not_a_contact_on_a_patched_server(patched_api: Api) -> None:
    sim = patched_api.sim
    assert send_template(patched_api, data={"template_id": 999, **TO_SPAIN})["message"] == ["The template is not found"]
    assert sim.contacts() == []
    assert send_template(patched_api, data=shipped(sim))["remark"] == "template_sent"
    contact = sim.get_contact(*SPAIN)
    assert contact is not None
    assert contact["full_name"] == "+34 600111222"


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("order_shipped", {"body_variables[]": ["Ana"]}, mismatch("body", 1, 2)),
        ("order_shipped", {}, mismatch("body", 0, 2)),
        ("welcome", {"body_variables[]": ["Ana"]}, mismatch("body", 1, 0)),
        ("order_update", {"body_variables[]": ["Ana", "shipped"]}, mismatch("header", 0, 1)),
        (
            "order_update",
            {"body_variables[]": ["Ana", "shipped"], "header_variables[]": ["1", "2"]},
            mismatch("header", 2, 1),
        ),
        ("order_update", {"body_variables[]": ["Ana"], "header_variables[]": ["1"]}, mismatch("body", 1, 2)),
    ],
)
def test_meta_rejects_a_wrong_number_of_parameters(
    any_api: Api, name: str, data: dict[str, Any], expected: dict[str, Any]
) -> None:
    sim = any_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    assert send_template(any_api, data={"template_id": template_id(sim, name), **TO_SPAIN, **data}) == expected
    assert sim.messages() == []
    assert sim.deliveries() == []  # Meta refused: nothing reached the phone


def test_header_and_body_variables(any_api: Api) -> None:
    sim = any_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    data = {
        "template_id": template_id(sim, "order_update"),
        **TO_SPAIN,
        "body_variables[]": ["{{ contactName }}", "shipped"],
        "header_variables[]": ["A-1"],
    }
    assert send_template(any_api, data=data)["status"] == ("success" if sim.patched else "error")
    (message,) = sim.messages()
    assert message["header_variables"] == ["A-1"]
    assert message["body_variables"] == ["Ana Ruiz", "shipped"]
    assert message["rendered"] == "Order A-1\nHi Ana Ruiz, the status of your order is now: shipped."
    welcome = {"template_id": template_id(sim, "welcome"), **TO_SPAIN}
    assert send_template(any_api, data=welcome)["remark"] in ("exception", "template_sent")
    assert len(sim.messages()) == 2


def test_meta_outage_leaks_the_access_token_for_templates(any_api: Api) -> None:
    sim = any_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.meta_outage = True
    assert send_template(any_api, data=shipped(sim)) == {
        "remark": "exception",
        "status": "error",
        "message": [
            "cURL error 6: Could not resolve host: graph.facebook.com "
            "(see https://curl.haxx.se/libcurl/c/libcurl-errors.html) for "
            f"https://graph.facebook.com/v22.0/109876543210987/messages?access_token={sim.meta_access_token}"
        ],
    }
    assert sim.messages() == []


def test_template_from_number_is_ignored_and_the_default_account_is_needed(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    assert send_template(api, data=shipped(sim, from_number="19999999999")) == UNDEFINED
    sim.has_whatsapp_account = False
    assert send_template(api, data=shipped(sim)) == {
        "remark": "not_found",
        "status": "error",
        "message": ["Please connect your whatsapp account first"],
    }


def test_template_to_a_blocked_contact(any_api: Api) -> None:
    any_api.sim.add_contact("Ana", "Ruiz", *SPAIN, is_blocked=True)
    assert send_template(any_api, data=shipped(any_api.sim)) == BLOCKED


def test_body_variables_must_be_an_array(any_api: Api) -> None:
    any_api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    data = {"template_id": template_id(any_api.sim, "order_shipped"), **TO_SPAIN, "body_variables": "Ana"}
    assert send_template(any_api, data=data) == {
        "remark": "exception",
        "status": "error",
        "message": ["foreach() argument must be of type array|object, string given"],
    }


def test_messages_filters(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.add_contact("Eva", "Gil", *MEXICO)
    send(api, data={"message": "hi", **TO_SPAIN})
    send_template(api, data={"template_id": template_id(sim, "welcome"), "mobile_code": "52", "mobile": MEXICO[1]})
    sim.simulate_reply(*MEXICO, text="gracias")
    assert [m["message"] for m in sim.messages(direction="received")] == ["gracias"]
    assert [m["mobile"] for m in sim.messages(direction="sent")] == [SPAIN[1], MEXICO[1]]
    assert len(sim.messages(mobile="52" + MEXICO[1])) == 2
    assert len(sim.messages(template_id=template_id(sim, "welcome"))) == 1
    with pytest.raises(ValueError, match="direction"):
        sim.messages(direction="inbound")
