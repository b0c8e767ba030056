"""The contacts domain without HTTP: a row parsed, and what it needs given the contact WapiFlow has."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_wapiflow.contacts import (
    ContactRow,
    ExistingContact,
    contact_key,
    desired_fields,
    parse_row,
    plan_row,
)
from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.models import Phone

ANA = {"firstname": "Ana", "lastname": "Ruiz", "phone": "+34600111201"}
ALLOWED = "firstname, lastname, phone, mobile_code, mobile, city, state, post_code, address, ref"

# --- parse_row: good rows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "region", "expected"),
    [
        (ANA, None, ContactRow(2, Phone("34", "600111201"), "Ana", "Ruiz")),
        # Trimmed as Laravel's TrimStrings middleware trims on the server.
        ({**ANA, "firstname": " Ana\t", "city": "  Madrid \n"}, None,
         ContactRow(2, Phone("34", "600111201"), "Ana", "Ruiz", city="Madrid")),
        ({**ANA, "post_code": 28001}, None, ContactRow(2, Phone("34", "600111201"), "Ana", "Ruiz", post_code="28001")),
        ({**ANA, "city": "", "state": None}, None, ContactRow(2, Phone("34", "600111201"), "Ana", "Ruiz", city="")),
        ({"firstname": "Ana", "lastname": "Ruiz", "mobile_code": "34", "mobile": "600111201", "ref": "C-7"}, None,
         ContactRow(2, Phone("34", "600111201"), "Ana", "Ruiz", ref="C-7")),
        ({**ANA, "phone": "600 111 201"}, "ES", ContactRow(2, Phone("34", "600111201"), "Ana", "Ruiz")),
        ({**ANA, "phone": "0034 600 111 201"}, "ES", ContactRow(2, Phone("34", "600111201"), "Ana", "Ruiz")),
        ({**ANA, "phone": "+44 7911 123456"}, "ES", ContactRow(2, Phone("44", "7911123456"), "Ana", "Ruiz")),
        ({**ANA, "firstname": "A" * 40}, None, ContactRow(2, Phone("34", "600111201"), "A" * 40, "Ruiz")),
    ],
)  # fmt: skip
def test_a_good_row_is_parsed_and_normalised(row: dict[str, Any], region: str | None, expected: ContactRow) -> None:
    assert parse_row(row, 2, default_region=region) == expected


# --- parse_row: bad rows, every problem named -----------------------------------------------------


@pytest.mark.parametrize(
    ("row", "problems"),
    [
        (["Ana", "Ruiz"], ["a contact must be a mapping of fields, got list"]),
        ({"phone": "+34600111201"}, ["'firstname' is required", "'lastname' is required"]),
        ({**ANA, "firstname": "  "}, ["'firstname' is required"]),
        ({**ANA, "lastname": 5}, ["'lastname' must be a string, got int"]),
        ({**ANA, "firstname": "A" * 41}, ["'firstname' is longer than 40 characters (41)"]),
        ({**ANA, "email": "ana@example.com"}, [f"unknown key 'email' (allowed: {ALLOWED})"]),
        ({"firstname": "Ana", "lastname": "Ruiz"},
         ["a phone is required: give 'phone' (E.164) or 'mobile_code' + 'mobile'"]),
        ({**ANA, "phone": "600 111 201"},
         ["'phone' *** *** 201 must be in E.164 form with a leading '+' and country code "
          "(or set default_region, e.g. 'ES', to read national numbers)"]),
        ({**ANA, "phone": "+3460011"}, ["'phone' +****011 is too short"]),
        ({"firstname": "Ana", "lastname": "Ruiz", "mobile_code": "+34", "mobile": "600111201"},
         ["'mobile_code' '+34' must be the country code without '+'"]),
        ({"firstname": "Ana", "lastname": "Ruiz", "mobile_code": "34"},
         ["'mobile' is missing: give 'phone' (E.164) or 'mobile_code' + 'mobile'"]),
        ({**ANA, "mobile": "600111201"}, ["give either 'phone' or 'mobile_code' + 'mobile', not both"]),
        ({**ANA, "city": 1.5, "address": True},
         ["'city' must be a string, got float", "'address' must be a string, got bool"]),
        ({**ANA, "ref": {"id": 1}}, ["'ref' must be a JSON scalar (text, number, boolean), got dict"]),
        # All problems at once, in a fixed order: keys, names, phone, optional fields, ref.
        ({"lastname": "", "phone": "+3460011", "city": 2.0, "ref": [1], "x": 1},
         [f"unknown key 'x' (allowed: {ALLOWED})", "'firstname' is required", "'lastname' is required",
          "'phone' +****011 is too short", "'city' must be a string, got float",
          "'ref' must be a JSON scalar (text, number, boolean), got list"]),
    ],
)  # fmt: skip
def test_a_bad_row_gives_every_problem(row: Any, problems: list[str]) -> None:
    assert parse_row(row, 3) == problems


def test_contact_row_parse_raises_with_the_row_number_on_each_problem() -> None:
    with pytest.raises(WapiFlowInputError) as raised:
        ContactRow.parse({"phone": "+34600111201", "city": 7.0}, 12)
    assert raised.value.messages == [
        "row 12 of the input: 'firstname' is required",
        "row 12 of the input: 'lastname' is required",
        "row 12 of the input: 'city' must be a string, got float",
    ]
    assert raised.value.message == "; ".join(raised.value.messages)


@pytest.mark.parametrize(
    ("row", "described"),
    [
        (ANA, {"row": 4, "contact": "+********201"}),
        ({**ANA, "ref": 0}, {"row": 4, "contact": "+********201", "ref": 0}),
        ({**ANA, "ref": False}, {"row": 4, "contact": "+********201", "ref": False}),
    ],
)
def test_a_row_describes_itself_masked_with_its_ref(row: dict[str, Any], described: dict[str, Any]) -> None:
    parsed = ContactRow.parse(row, 4)
    assert parsed.describe() == described
    assert parsed.key == ("34", "600111201")


# --- the existing contact, as WapiFlow lists it ---------------------------------------------------


@pytest.mark.parametrize(
    ("listed", "key"),
    [
        ({"mobile_code": "34", "mobile": "600111201"}, ("34", "600111201")),
        ({"mobile_code": " +34 ", "mobile": 600111201}, ("34", "600111201")),  # mobile as a JSON number
        ({"mobile_code": None, "mobile": None}, ("", "")),
        ({}, ("", "")),
    ],
)
def test_contact_key(listed: dict[str, Any], key: tuple[str, str]) -> None:
    assert contact_key(listed) == key


@pytest.mark.parametrize(
    ("address", "place"),
    [
        ({"city": "Madrid", "state": "MD", "post_code": 28001, "address": "Gran Vía 1", "country": "ES"},
         ("Madrid", "MD", "28001", "Gran Vía 1")),
        ('{"city": "Madrid", "post_code": "28001"}', ("Madrid", "", "28001", "")),  # a JSON string column
        ("not json", ("", "", "", "")),
        ([], ("", "", "", "")),  # PHP serialises an empty object as []
        (None, ("", "", "", "")),  # a contact made in the web UI
        ({"city": None}, ("", "", "", "")),
    ],
)  # fmt: skip
def test_existing_contact_from_api(address: Any, place: tuple[str, str, str, str]) -> None:
    listed = {"id": "7", "mobile_code": "34", "mobile": 600111201, "firstname": "Ana", "lastname": None}
    contact = ExistingContact.from_api({**listed, "address": address})
    assert (contact.id, contact.key, contact.firstname, contact.lastname) == (7, ("34", "600111201"), "Ana", "")
    assert (contact.city, contact.state, contact.post_code, contact.address) == place


# --- planning: create, update, unchanged or skip --------------------------------------------------

EXISTING = ExistingContact(7, "34", "600111201", "Ana", "Ruiz", city="Madrid", post_code="28001")


def row(**fields: Any) -> ContactRow:
    return ContactRow.parse({**ANA, **fields}, 1)


@pytest.mark.parametrize(
    ("planned", "existing", "update_existing", "action"),
    [
        (row(), None, True, "create"),
        (row(), None, False, "create"),
        (row(), EXISTING, True, "unchanged"),  # unset optional fields keep the contact's values
        (row(city="Madrid", post_code="28001"), EXISTING, True, "unchanged"),
        (row(city=" Madrid ", post_code=28001), EXISTING, True, "unchanged"),  # trimmed, number as text
        (row(firstname="Ana María"), EXISTING, True, "update"),
        (row(firstname="Ana María"), EXISTING, False, "skip"),
        (row(city=""), EXISTING, True, "update"),  # "" blanks the city on purpose
        (row(state=""), EXISTING, True, "unchanged"),  # already blank
        (row(state="MD"), EXISTING, True, "update"),
        (row(address="Gran Vía 1"), EXISTING, False, "skip"),
    ],
)
def test_plan_row(planned: ContactRow, existing: ExistingContact | None, update_existing: bool, action: str) -> None:
    write = plan_row(planned, existing, update_existing)
    assert (write.action, write.row, write.contact) == (action, planned, existing)


@pytest.mark.parametrize(
    ("planned", "existing", "fields"),
    [
        (row(), None,
         {"firstname": "Ana", "lastname": "Ruiz", "city": None, "state": None, "post_code": None, "address": None}),
        (row(), EXISTING,
         {"firstname": "Ana", "lastname": "Ruiz", "city": "Madrid", "state": "", "post_code": "28001", "address": ""}),
        (row(firstname="Eva", city="", state="MD"), EXISTING,
         {"firstname": "Eva", "lastname": "Ruiz", "city": "", "state": "MD", "post_code": "28001", "address": ""}),
    ],
)  # fmt: skip
def test_desired_fields_fill_what_the_row_leaves_unset_from_the_contact(
    planned: ContactRow, existing: ExistingContact | None, fields: dict[str, str | None]
) -> None:
    # WapiFlow's update replaces every field: what the row does not set is sent back as it is.
    assert desired_fields(planned, existing) == fields
