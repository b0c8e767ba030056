"""State rows as the API returns them: Eloquent ``toArray()`` key order, Laravel timestamps, the appends.

The callers hold ``state.lock`` while a row is rendered, so that it shows one moment of the state.
"""

from __future__ import annotations

import copy
import functools
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_wapiflow.testing.laravel import php_str
from airflow_provider_wapiflow.testing.state import MESSAGE_SENT

if TYPE_CHECKING:
    from airflow_provider_wapiflow.testing.state import (
        Contact,
        Conversation,
        Label,
        Message,
        SimConfig,
        SimState,
        Template,
    )


def fmt_ts(value: datetime | None) -> str | None:
    """Laravel 11 ``serializeDate``: ``2026-11-25T14:53:37.000000Z``."""
    if value is None:
        return None
    return _fmt_ts(value)


@functools.lru_cache(maxsize=4096)
def _fmt_ts(value: datetime) -> str:
    # Cached: rows created in the same second share the text, and a page of a big contact list
    # formats two timestamps per row.
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _copied(value: Any) -> Any:
    """A copy of a JSON column value that the caller may change; flat dicts (addresses) copy cheaply."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, dict) and all(v is None or isinstance(v, (str, int, float)) for v in value.values()):
        return dict(value)
    return copy.deepcopy(value)


def full_name(config: SimConfig, firstname: Any, lastname: Any, mobile_code: Any, mobile: Any) -> str:
    """The ``full_name`` append: the name, else the number (1.8 writes it without the space)."""
    name = f"{php_str(firstname)} {php_str(lastname)}".strip(" \t\n\r\0\x0b")
    if name:
        return name
    if config.server_version == "1.8":
        return f"+{php_str(mobile_code)}{php_str(mobile)}"
    return f"+{php_str(mobile_code)} {php_str(mobile)}"


def image_src(config: SimConfig, image: str | None, site: str) -> str:
    """The ``image_src`` append (1.8 always shows the default avatar)."""
    if image and config.server_version != "1.8":
        return f"{site}/assets/images/contact_profile/{image}"
    return f"{site}/assets/images/avatar.jpg"


def contact_dict(state: SimState, contact: Contact, site: str, *, with_labels: bool = False) -> dict[str, Any]:
    """A contact row as Eloquent serialises it (columns, then the ``image_src``/``full_name`` appends)."""
    config = state.config
    row: dict[str, Any] = {
        "id": contact.id,
        "user_id": contact.user_id,
        "firstname": contact.firstname,
        "lastname": contact.lastname,
        "mobile_code": contact.mobile_code,
        "mobile": contact.mobile,
        "image": contact.image,
        "address": _copied(contact.address),
        "status": contact.status,
        "details": _copied(contact.details),
        "is_customer": contact.is_customer,
        "is_blocked": contact.is_blocked,
        "blocked_by": contact.blocked_by,
        "created_at": fmt_ts(contact.created_at),
        "updated_at": fmt_ts(contact.updated_at),
        "image_src": image_src(config, contact.image, site),
        "full_name": full_name(config, contact.firstname, contact.lastname, contact.mobile_code, contact.mobile),
    }
    if with_labels:
        row["tags"] = [_label_dict(state.tags[i], contact.id, "contact_tag_id") for i in contact.tag_ids]
        row["lists"] = [_label_dict(state.lists[i], contact.id, "contact_list_id") for i in contact.list_ids]
    return row


def _label_dict(label: Label, contact_id: int, pivot_key: str) -> dict[str, Any]:
    return {
        "id": label.id,
        "user_id": label.user_id,
        "name": label.name,
        "created_at": fmt_ts(label.created_at),
        "updated_at": fmt_ts(label.updated_at),
        "pivot": {"contact_id": contact_id, pivot_key: label.id},
    }


def conversation_dict(
    state: SimState, conversation: Conversation, site: str, *, details: bool = False
) -> dict[str, Any]:
    """A conversation with its ``contact`` (null once deleted) and ``notes`` relations."""
    row: dict[str, Any] = {
        "id": conversation.id,
        "user_id": conversation.user_id,
        "contact_id": conversation.contact_id,
        "status": conversation.status,
        "whatsapp_account_id": conversation.whatsapp_account_id,
        "last_message_at": fmt_ts(conversation.last_message_at),
    }
    # The needs_human_reply column exists up to server version 1.8 only.
    if state.config.server_version == "1.8":
        row["needs_human_reply"] = conversation.needs_human_reply
    row["created_at"] = fmt_ts(conversation.created_at)
    row["updated_at"] = fmt_ts(conversation.updated_at)
    contact = state.contacts.get(conversation.contact_id) if conversation.contact_id else None
    row["contact"] = contact_dict(state, contact, site, with_labels=details) if contact else None
    notes = sorted(
        (n for n in state.notes.values() if n.conversation_id == conversation.id),
        key=lambda n: n.id,
        reverse=True,
    )
    row["notes"] = [
        {
            "id": n.id,
            "user_id": n.user_id,
            "conversation_id": n.conversation_id,
            "note": n.note,
            "created_at": fmt_ts(n.created_at),
            "updated_at": fmt_ts(n.updated_at),
        }
        for n in notes
    ]
    return row


def template_dict(template: Template) -> dict[str, Any]:
    return {
        "id": template.id,
        "user_id": template.user_id,
        "whatsapp_template_id": template.whatsapp_template_id,
        "whatsapp_account_id": template.whatsapp_account_id,
        "name": template.name,
        "header": copy.deepcopy(template.header),
        "header_format": template.header_format,
        "header_media": template.header_media,
        "body": template.body,
        "buttons": copy.deepcopy(template.buttons),
        "footer": template.footer,
        "add_security_recommendation": template.add_security_recommendation,
        "code_expiration_minutes": template.code_expiration_minutes,
        "category_id": template.category_id,
        "language_id": template.language_id,
        "status": template.status,
        "rejected_reason": template.rejected_reason,
        "created_at": fmt_ts(template.created_at),
        "updated_at": fmt_ts(template.updated_at),
    }


def sent_message_dict(message: Message) -> dict[str, Any]:
    """send-message's ``data.message``: the new model as inserted (assigned columns, then timestamps and id)."""
    return {
        "user_id": message.user_id,
        "whatsapp_account_id": message.whatsapp_account_id,
        "whatsapp_message_id": message.whatsapp_message_id,
        "conversation_id": message.conversation_id,
        "cta_url_id": message.cta_url_id,
        "interactive_list_id": message.interactive_list_id,
        "type": message.type,
        "message": message.message,
        "media_id": message.media_id,
        "message_type": message.message_type,
        "location": message.location,
        "media_caption": message.media_caption,
        "media_filename": message.media_filename,
        "media_url": message.media_url,
        "media_path": message.media_path,
        "mime_type": message.mime_type,
        "media_type": message.media_type,
        "agent_id": message.agent_id,
        "status": message.status,
        "ordering": message.ordering.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "product_data": message.product_data,
        "updated_at": fmt_ts(message.updated_at),
        "created_at": fmt_ts(message.created_at),
        "id": message.id,
    }


def message_inspect_dict(message: Message) -> dict[str, Any]:
    """The test-facing view of a message (not an API shape: the API never returns messages)."""
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "contact_id": message.contact_id,
        "mobile_code": message.mobile_code,
        "mobile": message.mobile,
        "type": message.type,
        "direction": "sent" if message.type == MESSAGE_SENT else "received",
        "status": message.status,
        "message_type": message.message_type,
        "message": message.message,
        "template_id": message.template_id,
        "body_variables": list(message.body_variables),
        "header_variables": list(message.header_variables),
        "rendered": message.rendered,
        "media_type": message.media_type,
        "media_caption": message.media_caption,
        "media_filename": message.media_filename,
        "mime_type": message.mime_type,
        "location": copy.deepcopy(message.location),
        "whatsapp_account_id": message.whatsapp_account_id,
        "whatsapp_message_id": message.whatsapp_message_id,
        "created_at": fmt_ts(message.created_at),
    }
