"""The conversation rules without HTTP: which conversation is meant, and whether it meets the conditions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_wapiflow.conversations import (
    Check,
    ConversationQuery,
    ConversationTarget,
    api_send_target,
    is_api_conversation,
    is_fatal,
    is_shared,
    public_conversation,
    replied_after_from,
    reply_conversations,
)
from airflow_provider_wapiflow.exceptions import (
    WapiFlowAuthError,
    WapiFlowConnectionError,
    WapiFlowError,
    WapiFlowInputError,
    WapiFlowNotFoundError,
    WapiFlowPlanError,
    WapiFlowRateLimitError,
    WapiFlowServerError,
)
from airflow_provider_wapiflow.models import ConversationStatus, Phone

PHONE = Phone("34", "600111222")
MASKED = "+********222"
T0 = "2026-11-25T14:53:37.000000Z"  # WapiFlow stores whole seconds
T0_LATER_IN_THE_SECOND = datetime(2026, 11, 25, 14, 53, 37, 900000, tzinfo=timezone.utc)
T1 = "2026-11-25T14:53:38.000000Z"
AT_T0 = datetime(2026, 11, 25, 14, 53, 37, tzinfo=timezone.utc)
AT_T1 = datetime(2026, 11, 25, 14, 53, 38, tzinfo=timezone.utc)
CUTOFF = T0_LATER_IN_THE_SECOND
MET = "conditions met"
NOT_YET = f"no conversation yet for {MASKED}"
NO_REPLY_SINCE_T0 = "no reply since 2026-11-25T14:53:37Z (last message at 2026-11-25T14:53:37Z)"
DONE, PENDING, NONE, IMPORTANT = (ConversationStatus.DONE, ConversationStatus.PENDING, ConversationStatus.NONE,
                                  ConversationStatus.IMPORTANT)  # fmt: skip


def conversation(
    id: int, account: Any = 3, status: Any = 0, last: str | None = None, mobile: str = "600111222", code: str = "34"
) -> dict[str, Any]:
    return {
        "id": id,
        "status": status,
        "whatsapp_account_id": account,
        "last_message_at": last,
        "contact": {"mobile_code": code, "mobile": mobile, "firstname": "Ana"},
    }


def by_id(**conditions: Any) -> ConversationQuery:
    return ConversationQuery(ConversationTarget(conversation_id=7), **conditions)


def by_phone(**conditions: Any) -> ConversationQuery:
    return ConversationQuery(ConversationTarget(phone=PHONE), **conditions)


# --- the conversation split -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("account", "api"),
    [(0, True), ("0", True), (3, False), ("3", False), (None, False), (True, False), ("x", False)],
)
def test_is_api_conversation(account: Any, api: bool) -> None:
    assert is_api_conversation({"id": 1, "whatsapp_account_id": account}) is api


@pytest.mark.parametrize(
    ("conversations", "target", "replies", "shared"),
    [
        # First messaged through the API: the API conversation (oldest) and the reply conversation.
        ([conversation(9, account=3), conversation(5, account=0)], 5, [9], {9: False}),
        # The customer wrote first: one conversation, where our sends land too.
        ([conversation(5, account=3)], 5, [5], {5: True}),
        # Two WhatsApp accounts, no API conversation: our sends land in the oldest.
        ([conversation(12, account=4), conversation(8, account=3)], 8, [12, 8], {12: False, 8: True}),
        ([conversation(5, account=0)], 5, [], {}),
        ([], None, [], {}),
        # An unreadable id is not the send target, but counts as shared: a later second is needed.
        ([{"id": "x", "whatsapp_account_id": 3}], None, ["x"], {"x": True}),
    ],
)
def test_the_split(
    conversations: list[dict[str, Any]], target: int | None, replies: list[Any], shared: dict[Any, bool]
) -> None:
    assert api_send_target(conversations) == target
    assert [c["id"] for c in reply_conversations(conversations)] == replies
    assert {c["id"]: is_shared(c, conversations) for c in reply_conversations(conversations)} == shared


@pytest.mark.parametrize(
    ("given", "public"),
    [
        ({**conversation(9, status=1, last=T0), "user_id": 2, "notes": "VIP", "tags": ["x"]},
         {"id": 9, "user_id": 2, "status": 1, "whatsapp_account_id": 3, "last_message_at": T0, "phone": MASKED}),
        ({"id": 9, "contact": None}, {"id": 9, "phone": None}),
        ({"id": 9, "contact": {"mobile_code": "+34 ", "mobile": 600111222}}, {"id": 9, "phone": MASKED}),
        ({"id": 9, "contact": {"mobile_code": "", "mobile": ""}}, {"id": 9, "phone": None}),
    ],
)  # fmt: skip
def test_public_conversation_keeps_no_personal_data(given: dict[str, Any], public: dict[str, Any]) -> None:
    assert public_conversation(given) == public


# --- evaluate: by id ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found", "done", "reason"),
    [
        (by_id(), [], False, "no conversation 7"),
        (by_id(), [conversation(7)], True, MET),
        (by_id(statuses=frozenset({DONE})), [conversation(7, status=1)], True, MET),
        (by_id(statuses=frozenset({DONE})), [conversation(7, status="2")], False,
         "status is PENDING, waiting for DONE"),
        (by_id(statuses=frozenset({IMPORTANT, DONE})), [conversation(7, status=0)], False,
         "status is NONE, waiting for DONE or IMPORTANT"),
        (by_id(statuses=frozenset({DONE})), [conversation(7, status=9)], False, "status is 9, waiting for DONE"),
        (by_id(statuses=frozenset({DONE})), [conversation(7, status=None)], False, "status is None, waiting for DONE"),
        (by_id(updated_after=CUTOFF), [conversation(7)], False, "no message yet"),
        (by_id(updated_after=CUTOFF), [conversation(7, last="soon")], False,
         "unreadable last_message_at 'soon'"),
        # Whole seconds: a message in the second of updated_after cannot be told from our own.
        (by_id(updated_after=CUTOFF), [conversation(7, last=T0)], False,
         "last message at 2026-11-25T14:53:37Z, waiting for one after 2026-11-25T14:53:37Z"),
        (by_id(updated_after=CUTOFF), [conversation(7, last=T1)], True, MET),
        # By id the other conversations are unknown: the conversation may be shared, the same second does not count.
        (by_id(replied_after=CUTOFF), [conversation(7, last=T0)], False,
         NO_REPLY_SINCE_T0),
        (by_id(replied_after=CUTOFF), [conversation(7, last=T1)], True, MET),
        (by_id(replied_after=CUTOFF), [conversation(7)], False, "no reply yet"),
        (by_id(statuses=frozenset({DONE}), updated_after=CUTOFF), [conversation(7, status=2)], False,
         "status is PENDING, waiting for DONE; no message yet"),
    ],
)  # fmt: skip
def test_evaluate_by_id(query: ConversationQuery, found: list[dict[str, Any]], done: bool, reason: str) -> None:
    check = query.evaluate(found)
    assert (check.done, check.reason, check.fatal) == (done, reason, None)
    assert check.conversation == (found[0] if found else None)


def test_an_api_conversation_given_by_id_is_fatal() -> None:
    check = by_id(statuses=frozenset({DONE})).evaluate([conversation(7, account=0, status=1)])
    assert (check.done, check.reason, check.conversation) == (
        False,
        "created by the API",
        conversation(7, account=0, status=1),
    )
    assert check.fatal is not None
    assert check.fatal.startswith("conversation 7 was created by WapiFlow's external API (whatsapp_account_id 0)")
    assert "ConversationSensor(phone=...)" in check.fatal


# --- evaluate: by phone ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found", "expected"),
    [
        (by_phone(), [], Check(False, None, NOT_YET)),
        # The server's search also matches other numbers: only this code and number count.
        (by_phone(), [conversation(9, mobile="600111223"), conversation(8, code="33")], Check(False, None, NOT_YET)),
        (by_phone(), [{"id": 9, "whatsapp_account_id": 3, "contact": None}], Check(False, None, NOT_YET)),
        (by_phone(), [conversation(5, account=0, last=T1)],
         Check(False, None, f"no reply conversation yet for {MASKED} (only the API's conversation 5, where replies "
                            "never arrive; the customer's first message opens a new one)")),
        (by_phone(), [conversation(9, code="+34 ", mobile=" 600111222")],
         Check(True, conversation(9, code="+34 ", mobile=" 600111222"), MET)),
        # The split: the reply conversation is never moved by our sends, so the cut-off's own second counts.
        (by_phone(replied_after=CUTOFF), [conversation(9, last=T0), conversation(5, account=0, last=T1)],
         Check(True, conversation(9, last=T0), MET)),
        # Shared (the customer wrote first): a message in the cut-off's second may be ours.
        (by_phone(replied_after=CUTOFF), [conversation(5, last=T0)],
         Check(False, conversation(5, last=T0), NO_REPLY_SINCE_T0)),
        (by_phone(replied_after=CUTOFF), [conversation(5, last=T1)], Check(True, conversation(5, last=T1), MET)),
        # Several reply conversations (one per WhatsApp account): the first meeting the conditions wins ...
        (by_phone(statuses=frozenset({DONE})), [conversation(12, status=2), conversation(8, status=1)],
         Check(True, conversation(8, status=1), MET)),
        # ... and when none does, the first one (latest activity) and its reason are reported.
        (by_phone(statuses=frozenset({DONE})), [conversation(12, status=2), conversation(8, status=0)],
         Check(False, conversation(12, status=2), "status is PENDING, waiting for DONE")),
        # The API conversation is never chosen, even when it meets the conditions.
        (by_phone(statuses=frozenset({DONE})), [conversation(5, account=0, status=1), conversation(9, status=0)],
         Check(False, conversation(9, status=0), "status is NONE, waiting for DONE")),
    ],
)  # fmt: skip
def test_evaluate_by_phone(query: ConversationQuery, found: list[dict[str, Any]], expected: Check) -> None:
    assert query.evaluate(found) == expected


# --- the query: described, and carried to the trigger as JSON --------------------------------------


@pytest.mark.parametrize(
    ("query", "described"),
    [
        (by_id(), "conversation 7 (to exist)"),
        (by_phone(statuses=frozenset({PENDING, DONE}), updated_after=CUTOFF),
         f"the conversation of {MASKED} (status DONE or PENDING and a message after 2026-11-25T14:53:37Z)"),
        (by_phone(replied_after=CUTOFF), f"the conversation of {MASKED} (a reply after 2026-11-25T14:53:37Z)"),
    ],
)  # fmt: skip
def test_describe(query: ConversationQuery, described: str) -> None:
    assert query.describe() == described


@pytest.mark.parametrize(
    ("arguments", "as_json"),
    [
        ({"conversation_id": "7", "statuses": "DONE,pending"},
         {"conversation_id": 7, "mobile_code": None, "mobile": None, "statuses": [1, 2], "updated_after": None,
          "replied_after": None}),
        ({"phone": "+34 600 111 222", "updated_after": "2026-11-25T15:53:37.25+01:00", "replied_after": T0},
         {"conversation_id": None, "mobile_code": "34", "mobile": "600111222", "statuses": None,
          "updated_after": "2026-11-25T14:53:37.250000Z", "replied_after": "2026-11-25T14:53:37.000000Z"}),
        ({"mobile_code": 34, "mobile": "600111222", "statuses": [3]},
         {"conversation_id": None, "mobile_code": "34", "mobile": "600111222", "statuses": [3], "updated_after": None,
          "replied_after": None}),
    ],
)  # fmt: skip
def test_a_query_is_built_from_arguments_and_survives_json(arguments: dict[str, Any], as_json: dict[str, Any]) -> None:
    query = ConversationQuery.build(**arguments)
    assert query.to_json() == as_json
    assert ConversationQuery.from_json(as_json) == query


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "say which conversation: give 'conversation_id', 'phone' (E.164) or 'mobile_code' + 'mobile'"),
        ({"conversation_id": 7, "phone": "+34600111222"},
         "give only one of 'conversation_id', 'phone', 'mobile_code' + 'mobile'; got 'conversation_id' and 'phone'"),
        ({"mobile": "600111222"}, "'mobile_code' is missing: 'mobile' needs 'mobile_code' too"),
        ({"conversation_id": 0}, "'conversation_id' must be a positive integer conversation id, got 0"),
        ({"conversation_id": 7, "statuses": []},
         "'statuses' is empty: give at least one status, or None for any status"),
        ({"conversation_id": 7, "statuses": "[1,"}, "'statuses' '[1,' is not a JSON list of statuses"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(WapiFlowInputError) as raised:
        ConversationQuery.build(**arguments)
    assert raised.value.message == message


# --- the reply cut-off from a send summary ---------------------------------------------------------

KEY = PHONE.key


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-25 14:53:37", AT_T0),
        ({"delivered_at": {KEY: T1}, "first_delivered_at": T0}, AT_T1),
        (f'{{"delivered_at": {{"{KEY}": "{T1}"}}}}', AT_T1),
        # A mapped send: the batch that delivered to the phone.
        ([{"delivered_at": {"other": T0}}, {"delivered_at": {KEY: T1}}], AT_T1),
        # An old summary without delivered_at: its start, earlier than every delivery.
        ({"started_at": T0}, AT_T0),
        # A capped delivered_at without the phone: the first delivery, never a later cut-off.
        ({"delivered_at": {str(i): T1 for i in range(1000)}, "first_delivered_at": T0},
         AT_T0),
    ],
)  # fmt: skip
def test_replied_after_from(value: Any, expected: datetime) -> None:
    assert replied_after_from(value, PHONE) == expected


@pytest.mark.parametrize(
    ("value", "phone", "start"),
    [
        ({"delivered_at": {"other": T0}}, PHONE, f"'replied_after': the send summary has no delivery to {MASKED}"),
        ({"delivered_at": {KEY: T0}}, None, "'replied_after' is a send summary: give the customer's 'phone'"),
        ({"recipients": 3}, PHONE, "'replied_after': the send summary has no 'delivered_at'"),
        ([], PHONE, "'replied_after' is a list: it must hold send summaries"),
        ("{not json", PHONE, "'replied_after' looks like a send summary but is neither JSON nor a dict"),
        (
            [{"delivered_at": {"other": T0}}],
            PHONE,
            f"'replied_after': none of the 1 send summaries has a delivery to {MASKED}",
        ),
    ],
)
def test_replied_after_from_refuses(value: Any, phone: Phone | None, start: str) -> None:
    with pytest.raises(WapiFlowInputError) as raised:
        replied_after_from(value, phone)
    assert raised.value.message.startswith(start), raised.value.message


# --- what ends the wait ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "fatal"),
    [
        (WapiFlowServerError("HTTP 503"), False),
        (WapiFlowConnectionError("reset"), False),
        (WapiFlowRateLimitError("HTTP 429", retry_after=3.0), False),
        (WapiFlowAuthError("bad token"), True),
        (WapiFlowPlanError("plan"), True),
        (WapiFlowNotFoundError("no conversation 7"), True),
        (WapiFlowInputError("bad"), True),
        (WapiFlowError("other"), True),
    ],
)
def test_is_fatal(error: WapiFlowError, fatal: bool) -> None:
    assert is_fatal(error) is fatal
