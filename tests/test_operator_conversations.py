"""SetConversationStatusOperator against the WapiFlow simulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from airflow_provider_wapiflow.exceptions import WapiFlowInputError, WapiFlowNotFoundError
from airflow_provider_wapiflow.models import ConversationStatus
from airflow_provider_wapiflow.operators.conversations import SetConversationStatusOperator
from airflow_provider_wapiflow.testing import WapiFlowSimulator

if TYPE_CHECKING:
    from airflow.sdk import Context

CODE, MOBILE = "34", "600111222"
PHONE = f"+{CODE}{MOBILE}"


pytestmark = pytest.mark.sim_contacts(("Ana", "García", CODE, MOBILE))


def _status_of(sim: WapiFlowSimulator, conversation_id: int) -> int:
    return int(next(c["status"] for c in sim.conversations() if c["id"] == conversation_id))


def _operator(**kwargs: Any) -> SetConversationStatusOperator:
    return SetConversationStatusOperator(task_id="close", **kwargs)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (ConversationStatus.DONE, 1),
        (3, 3),
        ("pending", 2),
        ("NONE", 0),
        ("1", 1),
    ],
)
def test_by_id(sim: WapiFlowSimulator, status: Any, expected: int, context: Context) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, status=4)
    result = _operator(conversation_id=conversation["id"], status=status).execute(context)
    assert result == {"conversation_id": conversation["id"], "status": expected}
    assert _status_of(sim, conversation["id"]) == expected
    assert sim.request_count(method="POST") == 1


def test_by_phone_picks_the_exact_contact(sim: WapiFlowSimulator, context: Context) -> None:
    sim.add_contact("Bob", "Other", CODE, MOBILE + "9")
    other = sim.add_conversation(CODE, MOBILE + "9", status=0)
    ours = sim.add_conversation(CODE, MOBILE, status=0)
    result = _operator(phone=PHONE, status="DONE").execute(context)
    assert result == {"conversation_id": ours["id"], "status": 1}
    assert _status_of(sim, ours["id"]) == 1
    assert _status_of(sim, other["id"]) == 0


def test_by_mobile_code_and_mobile_from_templates(sim: WapiFlowSimulator, context: Context) -> None:
    ours = sim.add_conversation(CODE, MOBILE, status=0)
    operator = _operator(mobile_code="{{ params.code }}", mobile="{{ params.mobile }}", status="{{ params.status }}")
    operator.render_template_fields({"params": {"code": CODE, "mobile": MOBILE, "status": "IMPORTANT"}})
    assert operator.execute(context) == {"conversation_id": ours["id"], "status": 3}
    assert _status_of(sim, ours["id"]) == 3


def test_conversation_id_templated_from_xcom(sim: WapiFlowSimulator, context: Context) -> None:
    ours = sim.add_conversation(CODE, MOBILE, status=0)
    operator = _operator(conversation_id="{{ wait['id'] }}", status=ConversationStatus.PENDING)
    operator.render_template_fields({"wait": {"id": ours["id"]}})
    assert operator.execute(context) == {"conversation_id": ours["id"], "status": 2}


@pytest.mark.parametrize("status", [ConversationStatus.UNREAD, 4, "UNREAD", "unread", "4"])
def test_unread_is_refused_at_parse_time(status: Any) -> None:
    with pytest.raises(WapiFlowInputError, match=r"UNREAD \(4\) cannot be set.*accepts only NONE \(0\)"):
        _operator(conversation_id=1, status=status)


def test_unread_from_a_template_is_refused_before_any_request(sim: WapiFlowSimulator, context: Context) -> None:
    conversation = sim.add_conversation(CODE, MOBILE, status=2)
    operator = _operator(conversation_id=conversation["id"], status="{{ params.status }}")
    operator.render_template_fields({"params": {"status": "UNREAD"}})
    with pytest.raises(WapiFlowInputError, match="UNREAD"):
        operator.execute(context)
    assert sim.request_count() == 0
    assert _status_of(sim, conversation["id"]) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": 1}, "say which conversation"),
        ({"conversation_id": 1, "phone": PHONE, "status": 1}, "give only one of"),
        ({"mobile_code": CODE, "status": 1}, "'mobile' is missing"),
        ({"phone": "+3460", "status": 1}, "'phone'"),
        ({"conversation_id": -3, "status": 1}, "'conversation_id' must be a positive integer"),
        ({"conversation_id": 1, "status": "CLOSED"}, "'status' must be a ConversationStatus"),
        ({"conversation_id": 1, "status": True}, "'status' must be a ConversationStatus"),
    ],
)
def test_bad_input_fails_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(WapiFlowInputError, match=message):
        _operator(**kwargs)


def test_phone_without_conversation_is_not_found(sim: WapiFlowSimulator, context: Context) -> None:
    with pytest.raises(WapiFlowNotFoundError, match=r"no conversation for \+\*+222") as info:
        _operator(phone=PHONE, status="DONE").execute(context)
    assert MOBILE not in str(info.value)
    assert sim.request_count(method="POST") == 0


def test_unknown_conversation_id_is_not_found(sim: WapiFlowSimulator, context: Context) -> None:
    with pytest.raises(WapiFlowNotFoundError, match="Conversation not found"):
        _operator(conversation_id=999, status="DONE").execute(context)


# --- the conversation split (docs/server-bugs.rst#bug-conversation-split) -----------------------------


def test_by_phone_sets_the_conversation_where_replies_arrive(sim: WapiFlowSimulator, context: Context) -> None:
    """After a send and a reply the contact has two conversations; agents only see the account's one."""
    from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowHook

    WapiFlowHook().send_message(CODE, MOBILE, "Your order shipped")
    sim.simulate_reply(CODE, MOBILE, "Thanks")
    WapiFlowHook().send_message(CODE, MOBILE, "You're welcome")  # moves the API conversation: the latest now
    api_side, replies = sim.conversations()
    assert (api_side["whatsapp_account_id"], replies["whatsapp_account_id"]) == (0, 1)
    assert api_side["last_message_at"] >= replies["last_message_at"]
    result = _operator(phone=PHONE, status="DONE").execute(context)
    assert result == {"conversation_id": replies["id"], "status": 1}
    assert (_status_of(sim, replies["id"]), _status_of(sim, api_side["id"])) == (1, 0)


def test_by_phone_with_only_the_api_conversation_is_not_found(sim: WapiFlowSimulator, context: Context) -> None:
    api_side = sim.add_conversation(CODE, MOBILE, whatsapp_account_id=0)
    with pytest.raises(WapiFlowNotFoundError, match=r"only the API's conversation .*Pass conversation_id") as info:
        _operator(phone=PHONE, status="DONE").execute(context)
    assert MOBILE not in str(info.value)
    assert sim.request_count(method="POST") == 0
    # On purpose, by id, it can still be changed.
    assert (
        _operator(conversation_id=api_side["id"], status="DONE").execute(context)["conversation_id"] == api_side["id"]
    )


def test_by_phone_when_the_customer_wrote_first_sets_the_shared_conversation(
    sim: WapiFlowSimulator, context: Context
) -> None:
    sim.simulate_reply(CODE, MOBILE, "Hi!")
    (shared,) = sim.conversations()
    assert _operator(phone=PHONE, status=3).execute(context) == {"conversation_id": shared["id"], "status": 3}
