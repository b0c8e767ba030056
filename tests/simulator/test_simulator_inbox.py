"""inbox/conversation-list, conversation-details, change-conversation-status, template-list."""

from __future__ import annotations

from typing import Any

import pytest
from simulator_helpers import MEXICO, SPAIN, Api

from airflow_provider_wapiflow.testing import WapiFlowSimulator

CONVERSATION_KEYS = [
    "id",
    "user_id",
    "contact_id",
    "status",
    "whatsapp_account_id",
    "last_message_at",
    "created_at",
    "updated_at",
    "contact",
    "notes",
]


def conversations(api: Api, **params: Any) -> dict[str, Any]:
    body = api.json("GET", "inbox/conversation-list", params=params)
    assert (body["remark"], body["status"]) == ("inbox", "success")
    assert body["message"] == ["Conversation data fetched successfully"]
    assert list(body["data"]) == ["conversation"]
    page: dict[str, Any] = body["data"]["conversation"]
    return page


def three_conversations(sim: WapiFlowSimulator) -> None:
    sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.add_contact("Eva", "Gil", *MEXICO)
    sim.add_contact("Bob", "Stone", "1", "5550001234")
    sim.add_conversation(*SPAIN, status=1, last_message_at="2026-01-01T10:00:00Z")
    sim.add_conversation(*MEXICO, status=2, last_message_at="2026-03-01T10:00:00Z")
    sim.add_conversation("1", "5550001234", status=2)  # never messaged: last_message_at null


def test_conversation_list_newest_message_first_with_contact_and_notes(any_api: Api) -> None:
    sim = any_api.sim
    three_conversations(sim)
    sim.add_note(2, "first note")
    sim.add_note(2, "VIP")
    page = conversations(any_api)
    assert [c["contact"]["firstname"] for c in page["data"]] == ["Eva", "Ana", "Bob"]
    eva = page["data"][0]
    assert list(eva) == CONVERSATION_KEYS
    assert eva["last_message_at"] == "2026-03-01T10:00:00.000000Z"
    assert page["data"][2]["last_message_at"] is None
    assert [n["note"] for n in eva["notes"]] == ["VIP", "first note"]
    assert list(eva["notes"][0]) == ["id", "user_id", "conversation_id", "note", "created_at", "updated_at"]
    assert eva["contact"]["full_name"] == "Eva Gil"
    assert page["total"] == 3


def test_status_is_a_plain_equality_filter(any_api: Api) -> None:
    sim = any_api.sim
    three_conversations(sim)
    assert [c["status"] for c in conversations(any_api, status=2)["data"]] == [2, 2]
    assert conversations(any_api, status=4)["data"] == []
    sim.set_conversation_status(1, 4)
    assert [c["id"] for c in conversations(any_api, status=4)["data"]] == [1]
    # Page links do not carry the filter.
    assert conversations(any_api, status=2, paginate=1)["next_page_url"].endswith("conversation-list?page=2")


def test_conversation_search_works_in_both_modes(any_api: Api) -> None:
    three_conversations(any_api.sim)
    assert [c["contact"]["firstname"] for c in conversations(any_api, search="gil")["data"]] == ["Eva"]
    assert [c["contact"]["mobile"] for c in conversations(any_api, search="600111")["data"]] == [SPAIN[1]]
    assert conversations(any_api, search="nobody")["data"] == []


def test_conversation_details(any_api: Api) -> None:
    sim = any_api.sim
    contact = sim.add_contact("Ana", "Ruiz", *SPAIN)
    sim.tag_contact(contact["id"], "lead")
    sim.add_contact_to_list(contact["id"], "Newsletter")
    conversation = sim.simulate_reply(*SPAIN, text="hola")
    sim.add_note(conversation["id"], "call back")
    body = any_api.json("GET", f"inbox/conversation-details/{conversation['id']}")
    assert body["remark"] == "conversation_details"
    assert body["message"] == ["Conversation details fetched successfully."]
    details = body["data"]["conversation"]
    assert list(details) == CONVERSATION_KEYS
    assert list(details["contact"])[-4:] == ["image_src", "full_name", "tags", "lists"]
    (tag,) = details["contact"]["tags"]
    assert (tag["name"], tag["pivot"]) == ("lead", {"contact_id": contact["id"], "contact_tag_id": tag["id"]})
    (lst,) = details["contact"]["lists"]
    assert (lst["name"], lst["pivot"]) == ("Newsletter", {"contact_id": contact["id"], "contact_list_id": lst["id"]})
    assert [n["note"] for n in details["notes"]] == ["call back"]
    assert details["whatsapp_account_id"] == 1
    assert "messages" not in details
    assert any_api.json("GET", "inbox/conversation-details/99") == {
        "remark": "not_found",
        "status": "error",
        "message": ["Conversation not found"],
    }


@pytest.mark.parametrize(
    ("status", "messages"),
    [
        (None, ["The status field is required."]),
        ("1.0", ["The status must be an integer."]),
        ("01", ["The status must be an integer."]),
        ("4", ["The selected status is invalid."]),
        ("abc", ["The status must be an integer.", "The selected status is invalid."]),
    ],
)
def test_change_status_validation(api: Api, status: str | None, messages: list[str]) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    api.sim.add_conversation(*SPAIN)
    data = {} if status is None else {"status": status}
    assert api.json("POST", "inbox/change-conversation-status/1", data=data) == {
        "remark": "validation_error",
        "status": "error",
        "message": messages,
    }


@pytest.mark.parametrize("status", [0, 1, 2, 3])
def test_change_status(api: Api, status: int) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    api.sim.add_conversation(*SPAIN, status=3 if status != 3 else 0)
    assert api.json("POST", "inbox/change-conversation-status/1", json={"status": status}) == {
        "remark": "status_updated",
        "status": "success",
        "message": ["Status updated successfully"],
    }
    assert api.sim.conversations()[0]["status"] == status


def test_change_status_of_an_unknown_conversation(api: Api) -> None:
    assert api.json("POST", "inbox/change-conversation-status/7", data={"status": "1"}) == {
        "remark": "not_found",
        "status": "error",
        "message": ["Conversation not found"],
    }


def test_template_list_returns_every_status_in_id_order(any_api: Api) -> None:
    body = any_api.json("GET", "inbox/template-list")
    assert (body["remark"], body["message"]) == ("inbox", ["Template data fetched successfully"])
    page = body["data"]["templates"]
    names = [t["name"] for t in page["data"]]
    assert names == [t["name"] for t in any_api.sim.templates()]
    assert [t["id"] for t in page["data"]] == sorted(t["id"] for t in page["data"])
    assert {t["status"] for t in page["data"]} == {0, 1, 2, 3}
    shipped = page["data"][0]
    assert shipped["name"] == "order_shipped"
    assert shipped["body"] == "Hi {{1}}, your order {{2}} has shipped."
    assert list(shipped) == [
        "id",
        "user_id",
        "whatsapp_template_id",
        "whatsapp_account_id",
        "name",
        "header",
        "header_format",
        "header_media",
        "body",
        "buttons",
        "footer",
        "add_security_recommendation",
        "code_expiration_minutes",
        "category_id",
        "language_id",
        "status",
        "rejected_reason",
        "created_at",
        "updated_at",
    ]
    with_header = next(t for t in page["data"] if t["header_format"] == "TEXT")
    assert "{{1}}" in with_header["header"]["text"]
    assert (
        any_api.json("GET", "inbox/template-list", params={"paginate": 2, "page": 2})["data"]["templates"][
            "current_page"
        ]
        == 2
    )


def test_added_templates_are_listed(api: Api) -> None:
    added = api.sim.add_template("promo", "Hello {{1}}", status=0)
    last = api.json("GET", "inbox/template-list", params={"paginate": 100})["data"]["templates"]["data"][-1]
    assert last == added
    assert (last["name"], last["status"]) == ("promo", 0)
