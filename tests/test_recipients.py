"""The recipient parser: 1-based positions, the batching helper's reserved keys, user references, masked input."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_wapiflow.contacts import ContactRow, parse_row
from airflow_provider_wapiflow.recipients import format_problems, parse_recipients


def test_positions_count_from_1_and_use_the_input_position_of_a_batch() -> None:
    parsed = parse_recipients(
        [
            {"phone": "+34600111201", "input_position": 48, "duplicates_dropped": 2, "ref": "C-48"},
            "+34600111202",
            {"phone": "+34600111203", "ref": 7},
        ]
    )
    first, second, third = parsed.valid
    assert (first.position, first.input_position, first.duplicates_dropped, first.ref) == (48, 48, 2, "C-48")
    assert (second.position, second.input_position, second.duplicates_dropped, second.ref) == (2, None, 0, None)
    assert first.describe() == {"position": 48, "recipient": "+********201", "ref": "C-48"}
    assert second.describe() == {"position": 2, "recipient": "+********202"}
    assert third.describe() == {"position": 3, "recipient": "+********203", "ref": 7}


@pytest.mark.parametrize(
    ("item", "masked"),
    [
        ({"phone": "+3460011", "ref": "C-9", "input_position": 9}, "+****011"),
        ({"mobile_code": "34", "mobile": "6001"}, "+***001"),
        ("600111222", "******222"),
        (600111222, "******222"),
        ({"ref": "C-9", "input_position": 9}, "(no phone)"),
        (4.5, "(a float)"),
    ],
)
def test_an_invalid_recipient_shows_its_masked_input_and_ref(item: Any, masked: str) -> None:
    (invalid,) = parse_recipients([item]).invalid
    entry = invalid.describe()
    assert entry["recipient"] == masked
    assert entry["position"] == (9 if isinstance(item, dict) and "input_position" in item else 1)
    assert entry.get("ref") == (item.get("ref") if isinstance(item, dict) else None)
    assert "600111" not in str(entry)


def test_problems_name_the_position_and_the_ref() -> None:
    parsed = parse_recipients(["+34600111201", {"phone": "+3460011", "ref": "C-2"}])
    assert format_problems(parsed.invalid, 2) == (
        "1 of 2 recipients are invalid:\n  recipient 2 of the input (ref 'C-2'): 'phone' +****011 is too short"
    )


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"phone": "+34600111201", "ref": {"id": 1}}, "'ref' must be a JSON scalar (text, number, boolean), got dict"),
        ({"phone": "+34600111201", "input_position": 0}, "'input_position' must be an integer >= 1, got 0"),
        ({"phone": "+34600111201", "duplicates_dropped": -1}, "'duplicates_dropped' must be an integer >= 0, got -1"),
    ],
)
def test_bad_reserved_keys(item: dict[str, Any], reason: str) -> None:
    (invalid,) = parse_recipients([item]).invalid
    assert invalid.reason == reason


def test_the_duplicates_warning_names_the_repeats() -> None:
    parsed = parse_recipients(["+34600111201", "+34600111202", "+34 600 111 201", {"phone": "+34600111202"}])
    assert parsed.duplicates == [(3, 1), (4, 2)]
    assert parsed.duplicates_warning() == (
        "2 recipients repeat an earlier phone and are not sent again (the first occurrence wins): "
        "recipient 3 repeats +********201 of recipient 1; recipient 4 repeats +********202 of recipient 2"
    )
    assert parse_recipients(["+34600111201"]).duplicates_warning() is None


def test_default_region_reads_national_numbers() -> None:
    parsed = parse_recipients(["600 111 201", "0034 600 111 202", {"phone": "600111203"}], default_region="ES")
    assert [r.phone.e164 for r in parsed.valid] == ["+34600111201", "+34600111202", "+34600111203"]
    (invalid,) = parse_recipients(["600 111 ABC"], default_region="ES").invalid
    assert invalid.reason.startswith("'phone' *** 111 ABC is not a phone number")


def test_a_contact_row_carries_its_ref_and_default_region() -> None:
    row = ContactRow.parse(
        {"firstname": "Ana", "lastname": "Ruiz", "phone": "600 111 201", "ref": 1042}, 5, default_region="ES"
    )
    assert (row.position, row.phone.e164, row.ref) == (5, "+34600111201", 1042)
    assert row.describe() == {"row": 5, "contact": "+********201", "ref": 1042}
    assert parse_row({"firstname": "Ana", "lastname": "Ruiz", "phone": "+34600111201", "ref": [1]}, 1) == [
        "'ref' must be a JSON scalar (text, number, boolean), got list"
    ]
