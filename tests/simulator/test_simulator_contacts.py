"""contact/list, contact/store, contact/update/{id}, contact/delete/{id}."""

from __future__ import annotations

import re
from typing import Any

import pytest
from simulator_helpers import MEXICO, SPAIN, Api

from airflow_provider_wapiflow.testing import WapiFlowSimulator

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z$")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PAGINATOR_KEYS = [
    "current_page",
    "data",
    "first_page_url",
    "from",
    "last_page",
    "last_page_url",
    "links",
    "next_page_url",
    "path",
    "per_page",
    "prev_page_url",
    "to",
    "total",
]
CONTACT_KEYS = [
    "id",
    "user_id",
    "firstname",
    "lastname",
    "mobile_code",
    "mobile",
    "image",
    "address",
    "status",
    "details",
    "is_customer",
    "is_blocked",
    "blocked_by",
    "created_at",
    "updated_at",
    "image_src",
    "full_name",
]
NEW = {"firstname": "John", "lastname": "Doe", "mobile_code": "34", "mobile": "600111222"}


def contacts_page(api: Api, **params: Any) -> dict[str, Any]:
    body = api.json("GET", "contact/list", params=params)
    assert body["remark"] == "contact-list"
    assert body["message"] == ["Contact data fetched successfully."]
    page: dict[str, Any] = body["data"]["contacts"]
    return page


def labels(page: dict[str, Any]) -> list[str]:
    return [link["label"] for link in page["links"]]


# -- contact/list and the paginator ---------------------------------------------------------------


def test_empty_list(api: Api) -> None:
    page = contacts_page(api)
    path = f"{api.sim.base_url}/contact/list"
    assert list(page) == PAGINATOR_KEYS
    assert page == {
        "current_page": 1,
        "data": [],
        "first_page_url": f"{path}?page=1",
        "from": None,
        "last_page": 1,
        "last_page_url": f"{path}?page=1",
        "links": [
            {"url": None, "label": "\u2039", "active": False},
            {"url": f"{path}?page=1", "label": "1", "active": True},
            {"url": None, "label": "\u203a", "active": False},
        ],
        "next_page_url": None,
        "path": path,
        "per_page": 20,
        "prev_page_url": None,
        "to": None,
        "total": 0,
    }


def test_list_is_newest_first_and_pages_without_carrying_parameters(api: Api) -> None:
    api.sim.seed_contacts(45)
    path = f"{api.sim.base_url}/contact/list"
    first = contacts_page(api)
    assert [c["id"] for c in first["data"]] == list(range(45, 25, -1))
    assert (first["from"], first["to"], first["last_page"], first["total"]) == (1, 20, 3, 45)
    assert first["next_page_url"] == f"{path}?page=2"
    last = contacts_page(api, page=3, paginate=20)
    assert [c["id"] for c in last["data"]] == [5, 4, 3, 2, 1]
    assert (last["from"], last["to"], last["next_page_url"]) == (41, 45, None)
    assert last["prev_page_url"] == f"{path}?page=2"
    assert last["links"][0] == {"url": f"{path}?page=2", "label": "\u2039", "active": False}
    assert [link["active"] for link in last["links"]] == [False, False, False, True, False]
    assert list(last["data"][0]) == CONTACT_KEYS


@pytest.mark.parametrize(
    ("params", "per_page", "current", "count"),
    [
        ({"paginate": "0"}, 15, 1, 15),
        ({"paginate": "abc"}, 20, 1, 20),
        ({"paginate": "7"}, 7, 1, 7),
        ({"paginate": "7", "page": "abc"}, 7, 1, 7),
        ({"paginate": "7", "page": "0"}, 7, 1, 7),
        ({"paginate": "7", "page": "5"}, 7, 5, 5),
    ],
)
def test_paginate_and_page_parameters(
    api: Api, params: dict[str, str], per_page: int, current: int, count: int
) -> None:
    api.sim.seed_contacts(33)
    page = contacts_page(api, **params)
    assert (page["per_page"], page["current_page"], len(page["data"])) == (per_page, current, count)


def test_a_page_past_the_end_is_empty(api: Api) -> None:
    api.sim.seed_contacts(3)
    page = contacts_page(api, page=4)
    assert (page["current_page"], page["data"], page["from"], page["to"], page["total"]) == (4, [], None, None, 3)
    assert page["prev_page_url"].endswith("?page=3")
    assert labels(page) == ["\u2039", "1", "\u203a"]


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (1, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "...", "29", "30"]),
        (7, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "...", "29", "30"]),
        (8, ["1", "2", "...", "5", "6", "7", "8", "9", "10", "11", "...", "29", "30"]),
        (15, ["1", "2", "...", "12", "13", "14", "15", "16", "17", "18", "...", "29", "30"]),
        (24, ["1", "2", "...", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30"]),
        (30, ["1", "2", "...", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30"]),
    ],
)
def test_paginator_links_window_with_gaps(api: Api, current: int, expected: list[str]) -> None:
    api.sim.seed_contacts(30)
    page = contacts_page(api, page=current, paginate=1)
    assert labels(page) == ["\u2039", *expected, "\u203a"]
    gaps = [link for link in page["links"] if link["label"] == "..."]
    assert all(gap == {"url": None, "label": "...", "active": False} for gap in gaps)
    assert [link["label"] for link in page["links"] if link["active"]] == [str(current)]


def test_thirteen_pages_have_no_gaps(api: Api) -> None:
    api.sim.seed_contacts(13)
    assert labels(contacts_page(api, page=7, paginate=1))[1:-1] == [str(n) for n in range(1, 14)]


def test_search_fails_on_the_real_server(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = api.json("GET", "contact/list", params={"search": "Ana"})
    assert body["remark"] == "exception"
    assert body["status"] == "error"
    (message,) = body["message"]
    assert message.startswith("SQLSTATE[42S22]: Column not found: 1054 Unknown column 'email' in 'WHERE' (")
    assert "`email` LIKE %Ana%" in message
    # An empty search is no search at all.
    assert api.json("GET", "contact/list", params={"search": ""})["status"] == "success"


def test_search_works_on_a_patched_server(patched_api: Api) -> None:
    patched_api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    patched_api.sim.add_contact("Eva", "Gil", *MEXICO)
    found = contacts_page(patched_api, search="ana")
    assert [c["firstname"] for c in found["data"]] == ["Ana"]
    assert [c["firstname"] for c in contacts_page(patched_api, search="5512")["data"]] == ["Eva"]
    assert "search" not in (found["next_page_url"] or "") + found["first_page_url"]


def test_search_must_be_a_string(any_api: Api) -> None:
    body = any_api.json("GET", "contact/list?search[]=x")
    assert body == {"remark": "validation_error", "status": "error", "message": ["The search must be a string."]}


# -- contact/store ---------------------------------------------------------------------------------


def test_store_answer_holds_only_the_set_attributes(api: Api) -> None:
    body = api.json("POST", "contact/store", data={**NEW, "city": "Madrid", "post_code": "28001"})
    contact = body["data"]["contact"]
    assert body["remark"] == "contact_save"
    assert body["message"] == ["Contact created successfully"]
    assert list(contact) == [
        "user_id",
        "firstname",
        "lastname",
        "mobile_code",
        "mobile",
        "address",
        "updated_at",
        "created_at",
        "id",
        "image_src",
        "full_name",
    ]
    assert contact["address"] == {
        "city": "Madrid",
        "state": "",
        "post_code": "28001",
        "address": "",
        "country": "Spain",
    }
    assert TS.match(contact["created_at"])
    assert contact["image_src"] == f"{api.sim.url}/assets/images/avatar.jpg"
    assert contact["full_name"] == "John Doe"
    stored = api.sim.get_contact(*SPAIN)
    assert stored is not None
    assert stored["id"] == contact["id"] == 1
    assert (stored["status"], stored["is_blocked"], stored["details"]) == (0, 0, None)


@pytest.mark.parametrize("encoding", ["form", "json", "multipart"])
def test_store_accepts_every_body_encoding(api: Api, encoding: str) -> None:
    if encoding == "form":
        kwargs: dict[str, Any] = {"data": NEW}
    elif encoding == "json":
        kwargs = {"json": NEW}
    else:
        kwargs = {"files": {k: (None, v) for k, v in NEW.items()}}
    assert api.json("POST", "contact/store", **kwargs)["status"] == "success"
    assert api.sim.get_contact(*SPAIN) is not None


def test_a_json_number_is_echoed_as_a_number(api: Api) -> None:
    contact = api.json("POST", "contact/store", json={**NEW, "mobile": 600111222})["data"]["contact"]
    assert contact["mobile"] == 600111222
    assert api.json("GET", "contact/list")["data"]["contacts"]["data"][0]["mobile"] == "600111222"


@pytest.mark.parametrize(
    ("code", "country"),
    [
        ("34", "Spain"),
        ("44", "Guernsey"),
        ("1", "Canada"),
        ("52", "Mexico"),
        ("49", "Germany"),
        ("33", "France"),
        ("91", "India"),
        ("55", "Brazil"),
        ("57", "Colombia"),
        ("54", "Argentina"),
        ("351", "Portugal"),
        ("39", "Italy"),
        ("999", ""),
    ],
)
def test_country_comes_from_the_dial_code(api: Api, code: str, country: str) -> None:
    contact = api.json("POST", "contact/store", data={**NEW, "mobile_code": code})["data"]["contact"]
    assert contact["address"]["country"] == country


def test_store_validation_messages_in_rule_order(api: Api) -> None:
    body = api.json("POST", "contact/store", data={"firstname": "   ", "city": ""})
    assert body == {
        "remark": "validation_error",
        "status": "error",
        "message": [
            "The firstname field is required.",
            "The lastname field is required.",
            "The mobile code field is required.",
            "The mobile field is required.",
        ],
    }
    body = api.json(
        "POST",
        "contact/store",
        json={"firstname": "x" * 41, "lastname": 5, "mobile_code": "34", "mobile": "+34 600", "city": 7},
    )
    assert body["message"] == [
        "The firstname must not be greater than 40 characters.",
        "The lastname must be a string.",
        "The mobile format is invalid.",
        "The city must be a string.",
    ]
    assert api.sim.contacts() == []


def test_profile_image_must_be_a_jpg_or_png(api: Api) -> None:
    files = {"profile_image": ("me.png", b"GIF89a" + b"\x00" * 10, "image/png")}
    body = api.json("POST", "contact/store", data=NEW, files=files)
    assert body["message"] == ["The profile image must be a file of type: jpg, jpeg, png."]
    files = {"profile_image": ("me.png", b"not an image", "image/png")}
    body = api.json("POST", "contact/store", data=NEW, files=files)
    assert body["message"] == [
        "The profile image must be an image.",
        "The profile image must be a file of type: jpg, jpeg, png.",
    ]


def test_profile_image_upload(api: Api) -> None:
    body = api.json("POST", "contact/store", data=NEW, files={"profile_image": ("me.png", PNG, "image/png")})
    contact = body["data"]["contact"]
    assert list(contact)[5:7] == ["address", "image"]
    assert re.fullmatch(r"[0-9a-f]{13}\d{10}\.png", contact["image"])
    assert contact["image_src"] == f"{api.sim.url}/assets/images/contact_profile/{contact['image']}"


def test_mobile_is_unique_per_dial_code(api: Api) -> None:
    api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    body = api.json("POST", "contact/store", data=NEW)
    assert body == {"remark": "validation_error", "status": "error", "message": ["The mobile has already been taken."]}
    assert api.json("POST", "contact/store", data={**NEW, "mobile_code": "52"})["status"] == "success"


def test_contact_limit_blocks_creates_and_is_spent_by_updates(any_api: Api) -> None:
    """docs/server-bugs.rst#bug-update-allowance, in both modes."""
    api = any_api
    contact = api.sim.add_contact("Ana", "Ruiz", *MEXICO)
    api.sim.contact_limit = 1
    updated = api.json("POST", f"contact/update/{contact['id']}", data={**NEW, "mobile_code": "52", "mobile": "1"})
    assert updated["status"] == "success"
    assert api.sim.contact_limit == 0
    body = api.json("POST", "contact/store", data=NEW)
    assert body == {
        "remark": "contact_limit_error",
        "status": "error",
        "message": ["You\u2019ve reached your  contact limit. Please upgrade your plan to continue."],
    }
    # Updates are not limited (and the allowance does not go below zero).
    assert api.json("POST", f"contact/update/{contact['id']}", data={**NEW, "mobile": "2"})["status"] == "success"
    assert api.sim.contact_limit == 0
    api.sim.contact_limit = None
    assert api.json("POST", "contact/store", data=NEW)["status"] == "success"


def test_server_version_18_remark_full_name_and_image_src() -> None:
    with WapiFlowSimulator(server_version="1.8") as sim:
        api = Api(sim)
        body = api.json("POST", "contact/store", data=NEW, files={"profile_image": ("me.png", PNG, "image/png")})
        assert body["remark"] == "contact_created"
        assert body["data"]["contact"]["image_src"] == f"{sim.url}/assets/images/avatar.jpg"
        nameless = sim.add_contact("", "", "1", "5551234567")
        assert nameless["full_name"] == "+15551234567"
        updated = api.json("POST", f"contact/update/{nameless['id']}", data={**NEW, "mobile": "9"})
        assert updated["remark"] == "contact_created"
        conversation = sim.simulate_reply("34", "9")
        assert "needs_human_reply" in conversation


def test_nameless_full_name_in_23(sim: WapiFlowSimulator) -> None:
    assert sim.add_contact("", "", "1", "5551234567")["full_name"] == "+1 5551234567"
    assert "needs_human_reply" not in sim.simulate_reply("1", "5551234567")


# -- contact/update ------------------------------------------------------------------------------


def test_update_is_a_full_replace_and_answers_the_whole_row(api: Api) -> None:
    existing = api.sim.add_contact("Ana", "Ruiz", *SPAIN, city="Madrid", post_code="28001", address="Gran Vía 1")
    body = api.json("POST", f"contact/update/{existing['id']}", data={**NEW, "mobile": SPAIN[1], "state": "Madrid"})
    assert body["remark"] == "contact_save"
    assert body["message"] == [" Contact updated successfully"]
    contact = body["data"]["contact"]
    assert list(contact) == CONTACT_KEYS
    assert contact["address"] == {"city": "", "state": "Madrid", "post_code": "", "address": "", "country": "Spain"}
    assert (contact["firstname"], contact["full_name"], contact["created_at"]) == (
        "John",
        "John Doe",
        existing["created_at"],
    )
    assert api.sim.get_contact(*SPAIN) == {**contact}


def test_update_unique_ignores_the_contact_itself(api: Api) -> None:
    ana = api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    api.sim.add_contact("Eva", "Gil", *MEXICO)
    same = api.json("POST", f"contact/update/{ana['id']}", data={**NEW})
    assert same["status"] == "success"
    taken = api.json("POST", f"contact/update/{ana['id']}", data={**NEW, "mobile_code": "52", "mobile": MEXICO[1]})
    assert taken["message"] == ["The mobile has already been taken."]


def test_update_unknown_contact_after_validation(api: Api) -> None:
    assert api.json("POST", "contact/update/99", data=NEW) == {
        "remark": "unknown_contact",
        "status": "error",
        "message": ["The contact is not found"],
    }
    assert api.json("POST", "contact/update/99", data={})["remark"] == "validation_error"


# -- contact/delete ------------------------------------------------------------------------------


def test_delete_and_its_restrictions(api: Api) -> None:
    sim = api.sim
    plain = sim.add_contact("Ana", "Ruiz", *SPAIN)
    talked = sim.add_contact("Eva", "Gil", *MEXICO)
    blocked = sim.add_contact("Bo", "Blocked", "1", "5550000000", is_blocked=True)
    silent = sim.add_contact("Sil", "Ent", "1", "5550000001")
    sim.simulate_reply(*MEXICO, text="hola")
    sim.add_conversation("1", "5550000001", status=2)

    assert api.json("DELETE", "contact/delete/99") == {
        "remark": "not_found",
        "status": "error",
        "message": ["The contact not found"],
    }
    assert api.json("DELETE", f"contact/delete/{talked['id']}") == {
        "remark": "contact_error",
        "status": "error",
        "message": ["Unable to delete contact with messages"],
    }
    assert api.json("DELETE", f"contact/delete/{blocked['id']}") == {
        "remark": "contact_error",
        "status": "error",
        "message": ["Unable to delete contact which is blocked"],
    }
    assert api.json("DELETE", f"contact/delete/{plain['id']}")["remark"] == "contact_deleted"
    assert sim.get_contact(*SPAIN) is None

    # A conversation without messages does not stop a delete; it stays behind with no contact.
    assert api.json("DELETE", f"contact/delete/{silent['id']}")["remark"] == "contact_deleted"
    listed = api.json("GET", "inbox/conversation-list")["data"]["conversation"]["data"]
    orphan = next(c for c in listed if c["contact_id"] == silent["id"])
    assert orphan["contact"] is None
    assert orphan["status"] == 2


def test_route_ids_compare_like_mysql(api: Api) -> None:
    contact = api.sim.add_contact("Ana", "Ruiz", *SPAIN)
    assert api.json("DELETE", f"contact/delete/{contact['id']}abc")["remark"] == "contact_deleted"
    assert api.json("DELETE", "contact/delete/abc")["remark"] == "not_found"
