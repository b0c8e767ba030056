"""Phone parsing, masking and redaction."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_wapiflow.exceptions import (
    SendOutcome,
    WapiFlowInputError,
    WapiFlowIPNotAllowedError,
    WapiFlowMetaError,
    redact,
)
from airflow_provider_wapiflow.models import Phone, mask_phone


@pytest.mark.parametrize(
    ("kwargs", "mobile_code", "mobile"),
    [
        ({"phone": "+34600111222"}, "34", "600111222"),
        ({"phone": " +34 600 11 12 22 "}, "34", "600111222"),
        ({"phone": "+447911123456"}, "44", "7911123456"),
        ({"mobile_code": "52", "mobile": "5512345678"}, "52", "5512345678"),
        ({"mobile_code": 1, "mobile": 4155552671}, "1", "4155552671"),
    ],
)
def test_phone_parse(kwargs: dict[str, object], mobile_code: str, mobile: str) -> None:
    phone = Phone.parse(**kwargs)  # type: ignore[arg-type]
    assert (phone.mobile_code, phone.mobile) == (mobile_code, mobile)
    assert phone.e164 == f"+{mobile_code}{mobile}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"phone": "34600111222"},
            "'phone' ********222 must be in E.164 form with a leading '+' and country code",
        ),
        ({"phone": "+3460011"}, "'phone' +****011 is too short"),
        ({"phone": "+346001112223334445"}, "'phone' +***************445 is too long"),
        ({"phone": "+34abc"}, "'phone' +34abc is not a phone number"),
        ({"phone": "+999600111222"}, "'phone' +*********222 is not a phone number"),
        ({"phone": "+34100111222"}, "'phone' +********222 is not a valid number for its country"),
        (
            {"mobile_code": "+34", "mobile": "600111222"},
            "'mobile_code' '+34' must be the country code without '+'",
        ),
        ({"mobile_code": "34", "mobile": "600 111 222"}, "'mobile' *** *** 222 must contain digits only"),
        ({"mobile_code": "34"}, "'mobile' is missing"),
        # 34600111222 (an int) is accepted: what native rendering makes of "+34600111222"
        ({"phone": 600111222}, "'phone' ******222 is a number, not a string in E.164 form"),
        ({"phone": 34.6}, "'phone' must be a string in E.164 form, got float"),
        (
            {"phone": "+34600111222", "mobile": "1"},
            "give either 'phone' or 'mobile_code' + 'mobile', not both",
        ),
    ],
)
def test_phone_parse_errors_name_the_field_and_mask_the_number(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(WapiFlowInputError) as caught:
        Phone.parse(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message)
    assert "600111222" not in str(caught.value)


def test_an_int_phone_is_read_as_e164_without_its_plus() -> None:
    # render_template_as_native_obj=True renders "+34699000111" to the int 34699000111
    assert Phone.parse(34699000111) == Phone("34", "699000111")
    with pytest.raises(WapiFlowInputError, match=r"must be a string in E\.164 form, got bool"):
        Phone.parse(True)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "written", ["600 111 222", "600111222", "0034 600 111 222", "+34 600 111 222", " 600-111-222 ", "(600) 111 222"]
)
def test_default_region_reads_national_and_international_forms(written: str) -> None:
    assert Phone.parse(written, default_region="ES") == Phone("34", "600111222")
    assert Phone.parse(written, default_region="es").e164 == "+34600111222"


def test_default_region_does_not_change_other_countries_or_the_mobile_fields() -> None:
    assert Phone.parse("+44 7911 123456", default_region="ES").e164 == "+447911123456"
    assert Phone.parse("07911 123456", default_region="GB").e164 == "+447911123456"
    assert Phone.parse(mobile_code="52", mobile="5512345678", default_region="ES").e164 == "+525512345678"


@pytest.mark.parametrize(
    ("written", "message"),
    [
        # keypad letters would message somebody else ("ABC" -> 222), with or without a region
        ("+34 600 111 ABC", "'phone' +** *** 111 ABC is not a phone number: only digits, spaces and - . ( ) may"),
        ("600 111 ABC", "'phone' *** 111 ABC is not a phone number: only '+', digits, spaces and - . ( ) are allowed"),
        ("600 11", "'phone' **0 11 is too short"),
        ("100 111 222", "'phone' *** *** 222 is not a valid number for its country"),
        ("600 111 222 ext. 5", "'phone' *** *** *22 ext. 5 is not a phone number"),
    ],
)
def test_default_region_keeps_refusing_what_is_not_a_number(written: str, message: str) -> None:
    with pytest.raises(WapiFlowInputError) as caught:
        Phone.parse(written, default_region="ES")
    assert str(caught.value).startswith(message)
    assert "600111" not in str(caught.value)


def test_without_default_region_a_national_number_says_how_to_read_it() -> None:
    with pytest.raises(WapiFlowInputError) as caught:
        Phone.parse("600 111 222")
    assert str(caught.value) == (
        "'phone' *** *** 222 must be in E.164 form with a leading '+' and country code "
        "(or set default_region, e.g. 'ES', to read national numbers)"
    )


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ("Spain", "'default_region' must be a two-letter ISO country such as 'ES', got 'Spain'"),
        (34, "'default_region' must be a two-letter ISO country such as 'ES', got 34"),
        ("XX", "'default_region' 'XX' is not a country phonenumbers knows"),
    ],
)
def test_a_bad_default_region_is_refused(region: object, message: str) -> None:
    with pytest.raises(WapiFlowInputError) as caught:
        Phone.parse("600 111 222", default_region=region)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_phone_str_is_masked() -> None:
    phone = Phone.parse("+34600111222")
    assert str(phone) == "+********222" == phone.masked
    assert f"{phone}" == "+********222"


def test_mask_phone_keeps_the_last_three_digits() -> None:
    assert mask_phone("+34600111222") == "+********222"
    assert mask_phone("12") == "12"


def test_redact_removes_access_tokens() -> None:
    text = "cURL error 6: ... for https://graph.facebook.com/v22.0/123/messages?access_token=EAAGabc123&x=1"
    assert redact(text).endswith("?access_token=***&x=1")
    assert "EAAGabc123" not in redact(text)


def test_errors_survive_pickling_with_their_attributes() -> None:
    error = WapiFlowIPNotAllowedError("blocked", ip="1.2.3.4", http_status=401, messages=["m"])
    clone = pickle.loads(pickle.dumps(error))
    assert (type(clone), clone.ip, clone.http_status, clone.messages, str(clone)) == (
        WapiFlowIPNotAllowedError,
        "1.2.3.4",
        401,
        ["m"],
        "blocked",
    )
    meta = pickle.loads(pickle.dumps(WapiFlowMetaError("x access_token=SECRET", transient=True)))
    assert meta.transient
    assert meta.outcome is SendOutcome.NOT_SENT
    assert "SECRET" not in str(meta)
