"""Unit tests of the PHP/Laravel emulation the simulator's handlers are built on."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_wapiflow.testing.laravel import (
    UploadedFile,
    Validator,
    encode_json,
    filter_validate_int,
    loose_equals,
    mysql_id_equals,
    mysql_like,
    normalise_input,
    paginate,
    per_page_from,
    php_array_from_pairs,
    php_truthy,
)


def test_encode_json_like_php() -> None:
    assert encode_json({"url": "https://a/b", "label": "\u2039", "emoji": "\U0001f600", "n": 1, "f": 1.5}) == (
        b'{"url":"https:\\/\\/a\\/b","label":"\\u2039","emoji":"\\ud83d\\ude00","n":1,"f":1.5}'
    )


def test_php_form_arrays() -> None:
    pairs = [("body_variables[]", "a"), ("body_variables[]", "b"), ("x[k][]", "1"), ("y", "1"), ("y", "2")]
    assert php_array_from_pairs(pairs) == {"body_variables": ["a", "b"], "x": {"k": ["1"]}, "y": "2"}
    assert php_array_from_pairs([("a.b c", "1"), ("[]", "ignored")]) == {"a_b_c": "1"}


def test_trim_strings_and_empty_to_null() -> None:
    assert normalise_input({"a": "  x ", "b": "", "c": [" ", "y"], "d": 5}) == {
        "a": "x",
        "b": None,
        "c": [None, "y"],
        "d": 5,
    }


@pytest.mark.parametrize(
    ("value", "expected"), [("0", False), ("", False), ("0.0", True), ([], False), (0, False), ("a", True)]
)
def test_php_truthy(value: Any, expected: bool) -> None:
    assert php_truthy(value) is expected


def test_loose_equality_and_integers() -> None:
    assert loose_equals("1.0", "1")
    assert loose_equals(34, "034")
    assert not loose_equals(0, "!=")
    assert not loose_equals(None, "0")
    assert [filter_validate_int(v) for v in ("5", "+5", "05", "1.0", 2.0, True, "abc")] == [
        True,
        True,
        False,
        False,
        True,
        True,
        False,
    ]


def test_mysql_comparisons() -> None:
    assert mysql_id_equals(12, "12abc")
    assert not mysql_id_equals(1, "abc")
    assert mysql_like("ANA", "Mariana")
    assert mysql_like("a_a", "xanax")
    assert not mysql_like("a\\_a", "xanax")
    assert mysql_like("100%", "100 percent")


@pytest.mark.parametrize(("given", "expected"), [(None, 20), ("0", 15), ("abc", 20), ("1e1", 10), ("7.9", 7)])
def test_per_page(given: Any, expected: int) -> None:
    assert per_page_from(given) == expected


def test_negative_per_page_returns_everything() -> None:
    page = paginate(list(range(5)), page=None, per_page="-2", path="http://x/p")
    assert (page["data"], page["per_page"], page["last_page"], page["from"], page["to"]) == (
        [0, 1, 2, 3, 4],
        -2,
        1,
        1,
        5,
    )


def test_validator_stops_at_a_failed_implicit_rule_only() -> None:
    rules: list[tuple[str, list[Any]]] = [
        ("a", ["required", "string", "max:3"]),
        ("b", ["nullable", "string"]),
        ("c", ["string", "max:2"]),
    ]
    assert Validator({"a": None, "b": None, "c": "abc"}, rules).errors() == [
        "The a field is required.",
        "The c must not be greater than 2 characters.",
    ]
    upload = UploadedFile("x.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 2048)
    assert Validator({"f": upload}, [("f", ["file", "max:1"])]).errors() == [
        "The f must not be greater than 1 kilobytes."
    ]
    assert upload.guess_extension() == "png"
