"""The customer-side delivery log, the zero coordinate (docs/server-bugs.rst#bug-zero-coordinate) and
JSON-safe inspection, over HTTP."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
import requests
from simulator_helpers import MEXICO, SPAIN, Api, template_id

TO_SPAIN = {"mobile_code": SPAIN[0], "mobile": SPAIN[1]}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_a_text_send_reaches_the_phone(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = api.json("POST", "inbox/send-message", data={**TO_SPAIN, "message": "Hello Ana"})
    (delivery,) = sim.deliveries()
    assert ISO_UTC.match(delivery.pop("at"))
    assert delivery == {
        "mobile_code": "34",
        "mobile": "600111222",
        "e164": "+34600111222",
        "kind": "text",
        "template_id": None,
        "body": "Hello Ana",
        "location": None,
        "route": "text",
        "outcome": "success",
        "stored": True,
        "message_id": body["data"]["message"]["id"],
        "whatsapp_message_id": body["data"]["message"]["whatsapp_message_id"],
    }
    assert sim.delivery_counts() == {"+34600111222": 1}


def test_a_template_send_reaches_the_phone_although_the_real_server_answers_an_error(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    order_update = template_id(sim, "order_update")
    data = {**TO_SPAIN, "template_id": order_update, "body_variables[]": ["Ana", "shipped"], "header_variables[]": "7"}
    assert api.json("POST", "inbox/send-template-message", data=data)["message"] == [
        "Undefined variable $conversationId"
    ]
    (delivery,) = sim.deliveries()
    assert (delivery["kind"], delivery["template_id"], delivery["outcome"]) == ("template", order_update, "success")
    assert delivery["body"] == "Order 7\nHi Ana, the status of your order is now: shipped."
    assert delivery["message_id"] == sim.messages()[0]["id"]


def test_media_and_location_deliveries(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    files = {"image": ("pic.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")}
    api.json("POST", "inbox/send-message", data={**TO_SPAIN, "message": "Look"}, files=files)
    place = {**TO_SPAIN, "latitude": "40.4168", "longitude": "-3.7038", "name": "Sol"}
    api.json("POST", "inbox/send-message", data=place)
    image, location = sim.deliveries()
    assert (image["kind"], image["body"]) == ("image", "Look")
    assert (location["kind"], location["body"]) == ("location", None)
    assert location["location"] == {"latitude": "40.4168", "longitude": "-3.7038", "name": "Sol", "address": ""}


def test_refused_sends_reach_nobody(api: Api) -> None:
    sim = api.sim
    api.json("POST", "inbox/send-message", data={**TO_SPAIN, "message": "Hi"})  # not a contact
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.meta_outage = True
    api.json("POST", "inbox/send-message", data={**TO_SPAIN, "message": "Hi"})
    sim.meta_outage = False
    sim.add_contact("Leo", "Paz", *MEXICO, is_blocked=True)
    api.json("POST", "inbox/send-message", data={"mobile_code": MEXICO[0], "mobile": MEXICO[1], "message": "Hi"})
    api.json("POST", "inbox/send-template-message", data={**TO_SPAIN, "template_id": template_id(sim, "summer_sale")})
    assert sim.deliveries() == []
    assert sim.delivery_counts() == {}


@pytest.mark.parametrize("kind", ["drop", "error", "html"])
def test_faults_after_processing_deliver(api: Api, kind: str) -> None:
    """A lost or replaced answer after WapiFlow sent: the customer has the message; a resend is a duplicate."""
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject(kind, process=True, times=1, path="inbox/send-message")
    with pytest.raises(requests.ConnectionError) if kind == "drop" else contextlib.nullcontext():
        api.post("inbox/send-message", data={**TO_SPAIN, "message": "Hi"})
    assert sim.delivery_counts() == {"+34600111222": 1}
    api.json("POST", "inbox/send-message", data={**TO_SPAIN, "message": "Hi"})  # a blind retry
    assert sim.delivery_counts() == {"+34600111222": 2}
    assert len(sim.messages()) == 2


def test_faults_before_processing_deliver_nothing(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.inject("drop", times=1, path="inbox/send-message")
    sim.inject("error", status=503, times=1, path="inbox/send-message")
    with pytest.raises(requests.ConnectionError):
        api.post("inbox/send-message", data={**TO_SPAIN, "message": "Hi"})
    assert api.post("inbox/send-message", data={**TO_SPAIN, "message": "Hi"}).status_code == 503
    assert sim.deliveries() == []


def test_deliveries_filter_by_number_and_are_copies(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.add_contact("Leo", "Paz", *MEXICO)
    for code, mobile in (SPAIN, MEXICO, SPAIN):
        api.json("POST", "inbox/send-message", data={"mobile_code": code, "mobile": mobile, "message": "Hi"})
    assert len(sim.deliveries(mobile="600111222")) == 2
    assert len(sim.deliveries(mobile="+34600111222")) == 2
    assert len(sim.deliveries(mobile_code="52")) == 1
    assert len(sim.deliveries(mobile_code="52", mobile="600111222")) == 0
    assert sim.delivery_counts() == {"+34600111222": 2, "+525512345678": 1}
    sim.deliveries()[0]["body"] = "changed"
    assert sim.deliveries()[0]["body"] == "Hi"
    sim.reset_state()
    assert sim.deliveries() == []


@pytest.mark.parametrize(
    "coordinates",
    [
        {"latitude": "0", "longitude": "0"},
        {"latitude": "0", "longitude": "-3.7038"},
        {"latitude": "40.4168", "longitude": "0"},
    ],
)
def test_a_zero_coordinate_sends_an_empty_text(api: Api, coordinates: dict[str, str]) -> None:
    """PHP's ``$request->latitude && $request->longitude`` is false for "0"."""
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = api.json("POST", "inbox/send-message", data={**TO_SPAIN, **coordinates, "name": "Null Island"})
    assert (body["remark"], body["status"], body["message"]) == ("success", "success", ["Message sent successfully"])
    answer = body["data"]["message"]
    assert (answer["message_type"], answer["message"], answer["location"]) == (1, None, None)
    (stored,) = sim.messages()
    assert (stored["message_type"], stored["message"], stored["location"]) == (1, None, None)
    (delivery,) = sim.deliveries()
    assert (delivery["kind"], delivery["body"], delivery["location"]) == ("text", None, None)
    assert sim.conversations()[0]["last_message_at"] is not None


def test_a_zero_coordinate_in_json_is_an_empty_text_too(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = api.json("POST", "inbox/send-message", json={**TO_SPAIN, "latitude": 0, "longitude": 0})
    assert body["data"]["message"]["message_type"] == 1
    assert api.sim.deliveries()[0]["kind"] == "text"


def test_zero_as_a_decimal_is_a_location(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = api.json("POST", "inbox/send-message", data={**TO_SPAIN, "latitude": "0.0", "longitude": "0.0"})
    answer = body["data"]["message"]
    assert answer["message_type"] == 8
    assert answer["location"] == {"latitude": "0.0", "longitude": "0.0", "name": "", "address": ""}
    (delivery,) = api.sim.deliveries()
    assert (delivery["kind"], delivery["location"]["latitude"]) == ("location", "0.0")


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        ({"latitude": "0"}, ["The longitude field is required when latitude is not empty."]),
        ({"longitude": "0"}, ["The latitude field is required when longitude is 0."]),
    ],
)
def test_required_if_quirks(api: Api, data: dict[str, str], messages: list[str]) -> None:
    """``required_if:longitude,!=,0`` means "when the other is the string '!=' or '0'"."""
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = api.json("POST", "inbox/send-message", data={**TO_SPAIN, **data})
    assert body == {"remark": "validation_error", "status": "error", "message": messages}
    assert api.sim.deliveries() == []
    assert api.sim.messages() == []


def test_inspection_returns_json_safe_copies(api: Api) -> None:
    sim = api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    files = {"document": ("invoice.pdf", b"%PDF-1.4 test", "application/pdf")}
    api.json("POST", "inbox/send-message", data={**TO_SPAIN, "message": "Invoice"}, files=files)
    api.json("POST", "inbox/send-message", data={**TO_SPAIN, "latitude": "1.5", "longitude": "2.5"})
    sim.simulate_reply(*SPAIN, text="Thanks")
    sim.inject("drop", times=1)
    for value in (
        sim.contacts(),
        sim.conversations(),
        sim.messages(),
        sim.templates(),
        sim.requests(),
        sim.deliveries(),
        sim.delivery_counts(),
        sim.snapshot(),
    ):
        assert json.loads(json.dumps(value)) == value
    assert sim.snapshot()["deliveries"] == sim.deliveries()
    messages = sim.messages()
    messages[1]["location"]["latitude"] = "changed"
    assert sim.messages()[1]["location"]["latitude"] == "1.5"
    log = sim.requests()
    log[0]["input"]["document"]["filename"] = "changed"
    assert sim.requests()[0]["input"]["document"] == {
        "filename": "invoice.pdf",
        "content_type": "application/pdf",
        "size": 13,
    }


def test_a_paused_template_is_refused_by_meta(any_api: Api) -> None:
    sim = any_api.sim
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    shown = sim.pause_template("order_shipped")
    assert shown["status"] == 1  # WapiFlow still lists it as approved
    data = {**TO_SPAIN, "template_id": template_id(sim, "order_shipped"), "body_variables[]": ["Ana", "A-1"]}
    body = any_api.json("POST", "inbox/send-template-message", data=data)
    assert body == {
        "remark": "exception",
        "status": "error",
        "message": ["Template is paused due to low quality so it cannot be sent in a template message."],
    }
    assert sim.deliveries() == []
    assert sim.messages() == []
    sim.pause_template(template_id(sim, "order_shipped"), paused=False)
    assert any_api.json("POST", "inbox/send-template-message", data=data)["message"] != body["message"]
    assert len(sim.deliveries()) == 1
    with pytest.raises(ValueError, match="no template 'nope'"):
        sim.pause_template("nope")
