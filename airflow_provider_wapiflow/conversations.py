"""
WapiFlow conversations as the external API shows them, with the conversation split of reference §7.4.

The external API finds a contact's conversation by user and contact only (the oldest one) and never sets
its ``whatsapp_account_id``: the conversations it creates keep ``whatsapp_account_id`` 0, successful
sends included. Meta's webhook files a customer's reply under the contact's conversation of the WhatsApp
account (``whatsapp_account_id`` = the account) and creates it if there is none. So:

* a contact first messaged through the API has two conversations: the *API conversation* (our sends
  move its ``last_message_at``, no reply ever arrives there, agents never see it in the web inbox) and
  the *reply conversation* (only the customer's messages and agents' web-inbox answers move it);
* a contact who wrote first has one conversation, the account's, and our API sends land there too
  (it is the oldest): a *shared* conversation, where our own sends and replies cannot be told apart.

Everything here is pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_wapiflow.models import mask_phone

#: ``whatsapp_account_id`` of every conversation the external API creates.
API_ACCOUNT_ID = 0

#: The conversation fields kept in XComs and event payloads: ids, status and times — no names, no notes.
PUBLIC_FIELDS = (
    "id",
    "user_id",
    "contact_id",
    "status",
    "whatsapp_account_id",
    "last_message_at",
    "created_at",
    "updated_at",
)


def account_id_of(conversation: Mapping[str, Any]) -> int | None:
    """The conversation's ``whatsapp_account_id`` as an int, or None when missing or unreadable."""
    raw = conversation.get("whatsapp_account_id")
    if isinstance(raw, bool):
        return None
    try:
        return int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def is_api_conversation(conversation: Mapping[str, Any]) -> bool:
    """Whether the external API created this conversation (``whatsapp_account_id`` 0): replies never arrive there."""
    return account_id_of(conversation) == API_ACCOUNT_ID


def reply_conversations(conversations: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The conversations where replies arrive (``whatsapp_account_id`` ≠ 0), in the given order."""
    return [dict(c) for c in conversations if not is_api_conversation(c)]


def _id_of(conversation: Mapping[str, Any]) -> int | None:
    try:
        return int(conversation.get("id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def api_send_target(conversations: Iterable[Mapping[str, Any]]) -> int | None:
    """
    The id of the conversation our API sends to this contact land in: the contact's oldest (lowest id).

    ``conversations`` must be *all* the conversations of one contact (conversation-list with
    ``search=`` and an exact phone match gives them).
    """
    ids = [i for i in (_id_of(c) for c in conversations) if i is not None]
    return min(ids) if ids else None


def is_shared(conversation: Mapping[str, Any], contact_conversations: Iterable[Mapping[str, Any]]) -> bool:
    """Whether both our API sends and the customer's replies move this conversation (the customer wrote first)."""
    return not is_api_conversation(conversation) and _id_of(conversation) == api_send_target(contact_conversations)


def masked_phone_of(conversation: Mapping[str, Any]) -> str | None:
    """The contact's phone, masked (``+*********222``), or None when the contact is gone."""
    contact = conversation.get("contact")
    if not isinstance(contact, Mapping):
        return None
    code = str(contact.get("mobile_code") or "").strip().lstrip("+")
    mobile = str(contact.get("mobile") or "").strip()
    if not (code or mobile):
        return None
    return mask_phone(f"+{code}{mobile}")


def public_conversation(conversation: Mapping[str, Any]) -> dict[str, Any]:
    """
    The conversation without personal data, for XComs and event payloads.

    Keeps ids, status, times and ``whatsapp_account_id``; the contact becomes ``phone`` (masked).
    Names, the full number, tags, lists and notes (free text) are dropped.
    """
    row = {key: conversation.get(key) for key in PUBLIC_FIELDS if key in conversation}
    row["phone"] = masked_phone_of(conversation)
    return row


__all__ = [
    "API_ACCOUNT_ID",
    "PUBLIC_FIELDS",
    "account_id_of",
    "api_send_target",
    "is_api_conversation",
    "is_shared",
    "masked_phone_of",
    "public_conversation",
    "reply_conversations",
]
