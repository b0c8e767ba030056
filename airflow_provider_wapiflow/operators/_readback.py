"""
Read-back of unknown send outcomes: the conversation list shows whether a send was stored.

A stored send moves ``last_message_at`` of the conversation the API used to the second the message
was stored. The API sends to the contact's *oldest* conversation
(docs/server-bugs.rst#bug-conversation-split). That move is evidence of *sent* only when nothing but
an API send can move that conversation: when it was created by the API (``whatsapp_account_id`` 0),
since customers' replies go to the conversation of the WhatsApp account. When the contact's oldest
conversation is the account's own (the customer wrote first), a reply moves it too, so a later
``last_message_at`` proves nothing and the outcome stays unknown. No move proves nothing either
(Meta may have delivered what WapiFlow failed to store).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_wapiflow.models import Phone

READ_PAGE_SIZE = 100


def _as_utc(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _is_contact(conversation: Mapping[str, Any], phone: Phone) -> bool:
    contact = conversation.get("contact")
    if not isinstance(contact, Mapping):
        return False
    code = str(contact.get("mobile_code") or "").strip().lstrip("+")
    mobile = str(contact.get("mobile") or "").strip()
    return (code, mobile) == (phone.mobile_code, phone.mobile)


def api_conversation(conversations: list[Mapping[str, Any]], phone: Phone) -> Mapping[str, Any] | None:
    """The conversation API sends of ``phone`` go to: the contact's oldest (lowest id)."""
    own = [c for c in conversations if _is_contact(c, phone)]
    return min(own, key=lambda c: int(c.get("id") or 0), default=None)


def sent_at(conversations: list[Mapping[str, Any]], phone: Phone, started: datetime) -> str | None:
    """
    When the read-back proves the send stored, as ISO UTC; None when it proves nothing.

    :param started: WapiFlow's clock when the send started (compared at whole seconds).
    """
    conversation = api_conversation(conversations, phone)
    if conversation is None or str(conversation.get("whatsapp_account_id") or 0) != "0":
        return None
    moved = _as_utc(conversation.get("last_message_at"))
    if moved is None or moved < started.astimezone(timezone.utc).replace(microsecond=0):
        return None
    return moved.isoformat()
