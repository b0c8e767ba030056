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
        ({"phone": 34600111222}, "'phone' must be a string in E.164 form, got int"),
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
    error = WapiFlowIPNotAllowedError("blocked", ip="1.2.3.4", status_code=401, messages=["m"])
    clone = pickle.loads(pickle.dumps(error))
    assert (type(clone), clone.ip, clone.status_code, clone.messages, str(clone)) == (
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
