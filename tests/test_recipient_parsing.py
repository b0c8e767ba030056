"""Recipient parsing without HTTP: phones, dicts, refs, repeated phones and the messages for bad input."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.recipients import (
    InvalidRecipient,
    Recipient,
    format_problems,
    masked_input,
    parse_recipients,
)

A, B = "+34600111201", "+34600111202"
A_MASKED = "+********201"
ALLOWED = (
    "phone, mobile_code, mobile, body_variables, header_variables, firstname, lastname, city, state, post_code, address"
)
TOO_SHORT = "'phone' +****011 is too short"
BAD_REF = "'ref' must be a JSON scalar (text, number, boolean), got dict"
NOT_A_RECIPIENT = "must be an E.164 string or a dict with 'phone' or 'mobile_code' + 'mobile', got"

# --- good recipients ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "e164", "details"),
    [
        (A, A, {}),
        ("  +34 (600) 111-201 ", A, {}),
        ("+34.600.111.201", A, {}),
        (34600111201, A, {}),  # a rendered "+34…" that native rendering turned into a number
        ({"phone": A}, A, {}),
        ({"mobile_code": "34", "mobile": "600111201"}, A, {}),
        ({"mobile_code": 34, "mobile": 600111201}, A, {}),
        ({"phone": A, "body_variables": ["Ana", 42, 1.5], "header_variables": []}, A,
         {"body_variables": ("Ana", "42", "1.5"), "header_variables": ()}),
        ({"phone": A, "firstname": "Ana", "lastname": "Ruiz", "city": "Madrid", "state": None}, A,
         {"contact": {"firstname": "Ana", "lastname": "Ruiz", "city": "Madrid"}}),
        ({"phone": A, "ref": "C-1"}, A, {"ref": "C-1"}),
        ({"phone": A, "ref": 0}, A, {"ref": 0}),
        ({"phone": A, "ref": None}, A, {}),
        ({"phone": A, "input_position": 48, "duplicates_dropped": 2}, A,
         {"position": 48, "input_position": 48, "duplicates_dropped": 2}),
    ],
)  # fmt: skip
def test_a_good_recipient(item: Any, e164: str, details: dict[str, Any]) -> None:
    parsed = parse_recipients([item])
    assert parsed.invalid == []
    (recipient,) = parsed.valid
    expected = {"position": 1, "body_variables": None, "header_variables": None, "message": None, "contact": {},
                "ref": None, "input_position": None, "duplicates_dropped": 0, **details}  # fmt: skip
    assert recipient.phone.e164 == e164
    assert {name: getattr(recipient, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("item", "region", "e164"),
    [
        ("600 111 201", "ES", A),
        ("600111201", "es", A),
        ("0034 600 111 201", "ES", A),
        ("+44 7911 123456", "ES", "+447911123456"),  # a '+' wins over the region
        ({"phone": "06 12 34 56 78"}, "FR", "+33612345678"),
    ],
)
def test_default_region_reads_national_numbers(item: Any, region: str, e164: str) -> None:
    (recipient,) = parse_recipients([item], default_region=region).valid
    assert recipient.phone.e164 == e164


@pytest.mark.parametrize(
    ("item", "message", "can_create"),
    [
        ({"phone": A, "message": "Hola"}, "Hola", False),
        ({"phone": A, "message": None, "firstname": "Ana"}, None, False),
        ({"phone": A, "firstname": "Ana", "lastname": "Ruiz"}, None, True),
        ({"phone": A, "firstname": "Ana", "lastname": ""}, None, False),
    ],
)
def test_extra_keys_and_contact_fields(item: dict[str, Any], message: str | None, can_create: bool) -> None:
    (recipient,) = parse_recipients([item], extra_keys=("message",)).valid
    assert (recipient.message, recipient.can_create_contact) == (message, can_create)


# --- bad recipients: position, masked input, ref and reason ---------------------------------------


@pytest.mark.parametrize(
    ("item", "masked", "reason"),
    [
        (True, "(a bool)", f"{NOT_A_RECIPIENT} bool"),
        (None, "(a NoneType)", f"{NOT_A_RECIPIENT} NoneType"),
        (["+34600111201"], "(a list)", f"{NOT_A_RECIPIENT} list"),
        (0, "0", "'phone' must be a string in E.164 form, got int"),
        ("600111201", "******201",
         "'phone' ******201 must be in E.164 form with a leading '+' and country code "
         "(or set default_region, e.g. 'ES', to read national numbers)"),
        ("+34 600 111 ABC", "+** *** 111 ABC",
         "'phone' +** *** 111 ABC is not a phone number: only digits, spaces and - . ( ) may follow the '+'"),
        ("+3460011", "+****011", "'phone' +****011 is too short"),
        ({}, "(no phone)", "'mobile_code' is missing: give 'phone' (E.164) or 'mobile_code' + 'mobile'"),
        ({"phone": A, "mobile": "600111201"}, A_MASKED, "give either 'phone' or 'mobile_code' + 'mobile', not both"),
        ({"mobile_code": "+34", "mobile": "600111201"}, "++********201",
         "'mobile_code' '+34' must be the country code without '+'"),
        ({"phone": A, "message": "Hola"}, A_MASKED, f"unknown key 'message' (allowed: {ALLOWED}, ref)"),
        ({"phone": A, "x": 1, "a": 2}, A_MASKED, f"unknown key 'a', 'x' (allowed: {ALLOWED}, ref)"),
        ({"phone": A, "firstname": 5}, A_MASKED, "'firstname' must be a string, got int"),
        ({"phone": A, "body_variables": "Ana"}, A_MASKED, "'body_variables' must be a list of values, got str"),
        ({"phone": A, "body_variables": ["Ana", None]}, A_MASKED, "'body_variables' {{2}} is missing (None)"),
        ({"phone": A, "header_variables": ["a\nb"]}, A_MASKED,
         "'header_variables' {{1}} contains a line break: Meta refuses newlines, tabs and more than 4 consecutive "
         "spaces in a template variable (#132018)"),
        ({"phone": A, "ref": ["C-1"]}, A_MASKED, "'ref' must be a JSON scalar (text, number, boolean), got list"),
    ],
)  # fmt: skip
def test_a_bad_recipient_is_named_masked_with_its_reason(item: Any, masked: str, reason: str) -> None:
    parsed = parse_recipients(["+34600111299", item])
    assert [r.position for r in parsed.valid] == [1]
    (invalid,) = parsed.invalid
    assert invalid == InvalidRecipient(2, reason, masked, None)
    assert "600111201" not in str(invalid.describe())


@pytest.mark.parametrize(
    ("item", "ref", "described"),
    [
        ({"phone": "+3460011", "ref": "C-2"}, "C-2",
         {"position": 1, "recipient": "+****011", "error": TOO_SHORT, "ref": "C-2"}),
        ({"phone": "+3460011", "ref": 7, "input_position": 30}, 7,
         {"position": 30, "recipient": "+****011", "error": TOO_SHORT, "ref": 7}),
        # An unusable ref is the reason, and is not echoed back.
        ({"phone": A, "ref": {"id": 1}}, None,
         {"position": 1, "recipient": A_MASKED, "error": BAD_REF}),
    ],
)  # fmt: skip
def test_a_bad_recipient_keeps_its_ref(item: dict[str, Any], ref: Any, described: dict[str, Any]) -> None:
    (invalid,) = parse_recipients([item]).invalid
    assert invalid.ref == ref
    assert invalid.describe() == described


@pytest.mark.parametrize(
    ("items", "region", "message"),
    [
        (A, None, "'recipients' must be a list of phones or recipient dicts, got str"),
        ({"phone": A}, None, "'recipients' must be a list of phones or recipient dicts, got dict"),
        (5, None, "'recipients' must be a list of phones or recipient dicts, got int"),
        (b"+34600111201", None, "'recipients' must be a list of phones or recipient dicts, got bytes"),
        ([], None, "'recipients' is empty: nothing to send"),
        ((), None, "'recipients' is empty: nothing to send"),
        ([A], "Spain", "'default_region' must be a two-letter ISO country such as 'ES', got 'Spain'"),
        ([A], "XX", "'default_region' 'XX' is not a country phonenumbers knows"),
    ],
)
def test_unusable_input_is_refused_whole(items: Any, region: str | None, message: str) -> None:
    with pytest.raises(WapiFlowInputError) as raised:
        parse_recipients(items, default_region=region)
    assert raised.value.message == message


# --- repeated phones: sent once, the first occurrence wins ----------------------------------------


@pytest.mark.parametrize(
    ("items", "region", "valid", "duplicates"),
    [
        ([A, B], None, [1, 2], []),
        ([A, "+34 600 111 201", 34600111201, B], None, [1, 4], [(2, 1), (3, 1)]),
        ([{"mobile_code": "34", "mobile": "600111201"}, {"phone": A, "ref": "other"}], None, [1], [(2, 1)]),
        (["600111201", A], "ES", [1], [(2, 1)]),
        ([{"phone": A, "input_position": 10}, {"phone": A, "input_position": 12}], None, [10], [(12, 10)]),
        # An invalid recipient is no first occurrence.
        (["+3460011", A, A], None, [2], [(3, 2)]),
    ],
)
def test_repeated_phones(
    items: list[Any], region: str | None, valid: list[int], duplicates: list[tuple[int, int]]
) -> None:
    parsed = parse_recipients(items, default_region=region)
    assert [r.position for r in parsed.valid] == valid
    assert parsed.duplicates == duplicates
    assert parsed.repeated == [(position, first, A_MASKED) for position, first in duplicates]


@pytest.mark.parametrize(
    ("repeats", "ending"),
    [
        (1, "(the first occurrence wins): recipient 2 repeats +********201 of recipient 1"),
        (20, "recipient 21 repeats +********201 of recipient 1"),
        (23, "recipient 21 repeats +********201 of recipient 1; … and 3 more"),
    ],
)
def test_the_duplicates_warning_names_at_most_20(repeats: int, ending: str) -> None:
    warning = parse_recipients([A] * (repeats + 1)).duplicates_warning()
    assert warning is not None
    assert warning.startswith(f"{repeats} recipients repeat an earlier phone and are not sent again")
    assert warning.endswith(ending)
    assert warning.count(" repeats +") == min(repeats, 20)


# --- the error message ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        (20, "3 of 5 recipients are invalid:\n"
             "  recipient 1 of the input: 'phone' +****011 is too short\n"
             "  recipient 2 of the input (ref 'C-2'): 'phone' must be a string in E.164 form, got int\n"
             f"  recipient 4 of the input: {NOT_A_RECIPIENT} float"),
        (2, "3 of 5 recipients are invalid:\n"
            "  recipient 1 of the input: 'phone' +****011 is too short\n"
            "  recipient 2 of the input (ref 'C-2'): 'phone' must be a string in E.164 form, got int\n"
            "  … and 1 more"),
    ],
)  # fmt: skip
def test_format_problems(limit: int, message: str) -> None:
    parsed = parse_recipients(["+3460011", {"phone": 0, "ref": "C-2"}, A, 4.5, B])
    assert format_problems(parsed.invalid, 5, limit) == message


@pytest.mark.parametrize(
    ("item", "masked"),
    [
        ({"phone": " +34600111201 "}, A_MASKED),
        ({"mobile_code": 34, "mobile": 600111201}, A_MASKED),
        ({"mobile": "600111201"}, "+******201"),
        ({"ref": 1}, "(no phone)"),
        (34600111201, "********201"),
        (False, "(a bool)"),
        (4.5, "(a float)"),
    ],
)
def test_masked_input(item: Any, masked: str) -> None:
    assert masked_input(item) == masked


def test_a_recipient_refused_later_keeps_its_position_and_ref() -> None:
    (recipient,) = parse_recipients([{"phone": A, "ref": "C-9", "input_position": 9}]).valid
    assert recipient.describe() == {"position": 9, "recipient": A_MASKED, "ref": "C-9"}
    assert recipient.invalid("the template has 2 body variables") == InvalidRecipient(
        9, "the template has 2 body variables", A_MASKED, "C-9"
    )
    assert isinstance(recipient, Recipient)
    assert recipient.digest == recipient.phone.key
