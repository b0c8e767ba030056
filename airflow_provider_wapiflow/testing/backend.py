"""The WapiFlow server's rules, without HTTP: one method per API operation of :class:`WapiFlowBackend`.

A method takes the request's parsed input (``$request->all()``) and path parameters, and returns the
``data`` of the success answer, or raises a :class:`BackendError` that says which error answer the
server gives. The server's bugs are emulated here unless the simulator runs ``patched``; each one is
described in docs/server-bugs.rst (anchors ``bug-*``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_provider_wapiflow.testing import serializers
from airflow_provider_wapiflow.testing.laravel import (
    UploadedFile,
    Validator,
    like_matcher,
    mysql_like,
    mysql_number,
    paginate,
    php_str,
    php_truthy,
)
from airflow_provider_wapiflow.testing.outcomes import (
    HTTP_500_KINDS,
    DeliveryLog,
    SendOutcome,
    SendOutcomeRegistry,
    sql_conversation_update,
    sql_messages_insert,
)
from airflow_provider_wapiflow.testing.serializers import (
    contact_dict,
    conversation_dict,
    fmt_ts,
    full_name,
    image_src,
    sent_message_dict,
)
from airflow_provider_wapiflow.testing.state import (
    MESSAGE_SENT,
    MESSAGE_TYPES,
    Contact,
    Conversation,
    Message,
    SimState,
    Template,
    address_object,
    placeholders,
    render,
    utcnow,
)

logger = logging.getLogger(__name__)

Fields = Mapping[str, Any]
"""A request's input: query string, body and files merged, as ``$request->all()`` sees it."""

# Texts the server answers, kept verbatim (the double space of CONTACT_LIMIT included).
CONTACT_LIMIT = "You\u2019ve reached your  contact limit. Please upgrade your plan to continue."
BLOCKED = "You cannot send or receive messages with this contact because they have been blocked."
UNDEFINED_CONVERSATION_ID = "Undefined variable $conversationId"
TEMPLATE_PAUSED = "Template is paused due to low quality so it cannot be sent in a template message."
NO_ECOMMERCE = "Your current plan does not support e-commerce configured messages. Please upgrade your plan."
MOBILE_REGEX = "regex:^([0-9]*)$"
_SHORTCODE_RE = re.compile(r"\{\{\s*(contactName|contactMobile|userName|userMobile)\s*\}\}")


class BackendError(Exception):
    """The server answers the error envelope: ``remark`` and ``messages``."""

    remark = "error"

    def __init__(self, *messages: str, remark: str | None = None) -> None:
        super().__init__(*messages)
        self.messages = list(messages)
        if remark is not None:
            self.remark = remark


class ValidationFailed(BackendError):
    """The validator's messages, in rule order."""

    remark = "validation_error"

    def __init__(self, messages: list[str]) -> None:
        super().__init__(*messages)


class NotFound(BackendError):
    remark = "not_found"


class ServerException(BackendError):
    """A PHP exception or error that Laravel's handler turned into ``remark: exception`` with its text."""

    remark = "exception"


class SendEnded(Exception):
    """An injected :class:`SendOutcome` ended the send at the call to Meta.

    ``text`` is the ``exception`` text, None for the kinds that answer an HTTP 500 page instead.
    """

    def __init__(self, outcome: SendOutcome, text: str | None) -> None:
        super().__init__(outcome.kind)
        self.outcome = outcome
        self.text = text


def sql_contact_id_null(now: datetime) -> str:
    """The conversation insert for an unsaved contact (docs/server-bugs.rst#bug-not-a-contact)."""
    ts = now.strftime("%Y-%m-%d %H:%M:%S")
    return (
        "SQLSTATE[23000]: Integrity constraint violation: 1048 Column 'contact_id' cannot be null "
        "(Connection: mysql, SQL: insert into `conversations` (`contact_id`, `user_id`, `updated_at`, "
        f"`created_at`) values (?, 1, {ts}, {ts}))"
    )


def sql_unknown_email_column(search: str) -> str:
    """Contact search ORs over a ``contacts.email`` column that does not exist
    (docs/server-bugs.rst#bug-contact-search)."""
    like = f"%{search}%"
    return (
        "SQLSTATE[42S22]: Column not found: 1054 Unknown column 'email' in 'WHERE' (Connection: mysql, SQL: "
        "select count(*) as aggregate from `contacts` where `user_id` = 1 and "
        f"(`mobile` LIKE {like} or `firstname` LIKE {like} or `lastname` LIKE {like}) and "
        f"(`firstname` LIKE {like} or `lastname` LIKE {like} or `mobile` LIKE {like} or `email` LIKE {like}))"
    )


def curl_could_not_resolve(url: str) -> str:
    """What Guzzle says when WapiFlow cannot reach Meta (docs/server-bugs.rst#bug-meta-outage)."""
    return (
        "cURL error 6: Could not resolve host: graph.facebook.com "
        f"(see https://curl.haxx.se/libcurl/c/libcurl-errors.html) for {url}"
    )


def meta_template_refusal(template: Template, body_variables: list[str], header_variables: list[str]) -> str | None:
    """Meta's ``error_data.details`` for a paused template, or a component whose parameter count differs
    from its placeholders."""
    if template.paused:
        return TEMPLATE_PAUSED
    for component, text, given in (
        ("header", template.header_text, header_variables),
        ("body", template.body, body_variables),
    ):
        expected = len(placeholders(text))
        if len(given) != expected:
            return (
                f"{component}: number of localizable_params ({len(given)}) does not match the expected number "
                f"of params ({expected})"
            )
    return None


class WapiFlowBackend:
    """The controllers of the external API over a :class:`SimState`.

    ``outcomes`` decide how sends end at the call to Meta, ``deliveries`` records what reached phones,
    ``on_sent(contact)`` runs after every message that reached a saved contact's phone (auto-replies).
    """

    def __init__(
        self,
        state: SimState,
        outcomes: SendOutcomeRegistry | None = None,
        deliveries: DeliveryLog | None = None,
        on_sent: Callable[[Contact], None] | None = None,
    ) -> None:
        self.state = state
        self.config = state.config
        self.outcomes = outcomes if outcomes is not None else SendOutcomeRegistry()
        self.deliveries = deliveries if deliveries is not None else DeliveryLog()
        self.on_sent = on_sent

    # -- ContactController ----------------------------------------------------------------------

    def list_contacts(self, fields: Fields, *, site: str, page_path: str) -> dict[str, Any]:
        """contact/list: a page of contacts, newest first; a search fails unless patched."""
        _validate(fields, [("search", ["nullable", "string"])])
        search = fields.get("search")
        with self.state.lock:
            rows: Sequence[Contact] = self.state.contacts_newest_first()
            if php_truthy(search):
                if not self.config.patched:  # docs/server-bugs.rst#bug-contact-search
                    raise ServerException(sql_unknown_email_column(php_str(search)))
                like = like_matcher(php_str(search))
                rows = [c for c in rows if like(c.mobile) or like(php_str(c.firstname)) or like(php_str(c.lastname))]
            page = paginate(rows, page=fields.get("page"), per_page=fields.get("paginate"), path=page_path)
            page["data"] = [contact_dict(self.state, c, site) for c in page["data"]]
        return page

    def store_contact(self, fields: Fields, *, site: str) -> dict[str, Any]:
        """contact/store: the new contact as the new model serialises (the values echo the request)."""
        state = self.state
        with state.lock:
            self._validate_contact(fields, None)
            if not state.contact_allowance_left():
                raise BackendError(CONTACT_LIMIT, remark="contact_limit_error")
            code, mobile = fields["mobile_code"], fields["mobile"]
            image = self._stored_image(fields)
            created = state.add_contact(fields["firstname"], fields["lastname"], code, mobile, image=image)
            created.address = self._address(fields)
            # A new model holds only what was assigned, then the timestamps, the id and the appends;
            # the values echo the request (a JSON number stays a number).
            row: dict[str, Any] = {
                "user_id": created.user_id,
                "firstname": fields["firstname"],
                "lastname": fields["lastname"],
                "mobile_code": code,
                "mobile": mobile,
                "address": dict(created.address),
            }
            if image is not None:
                row["image"] = image
            row["updated_at"] = fmt_ts(created.updated_at)
            row["created_at"] = fmt_ts(created.created_at)
            row["id"] = created.id
            row["image_src"] = image_src(self.config, image, site)
            row["full_name"] = full_name(self.config, fields["firstname"], fields["lastname"], code, mobile)
            return row

    def update_contact(self, fields: Fields, contact_id: str, *, site: str) -> dict[str, Any]:
        """contact/update/{id}: a full replace; every update spends one unit of the contact allowance."""
        state = self.state
        with state.lock:
            self._validate_contact(fields, contact_id)
            contact = state.find_contact(contact_id)
            if contact is None:
                raise BackendError("The contact is not found", remark="unknown_contact")
            code, mobile = fields["mobile_code"], fields["mobile"]
            image = self._stored_image(fields)
            new_values = {
                "firstname": fields["firstname"],
                "lastname": fields["lastname"],
                "mobile_code": php_str(code),
                "mobile": php_str(mobile),
                "address": self._address(fields),
                "image": image if image is not None else contact.image,
            }
            dirty = any(getattr(contact, k) != v for k, v in new_values.items())
            state.renumber_contact(contact, new_values.pop("mobile_code"), new_values.pop("mobile"))
            for key, value in new_values.items():
                setattr(contact, key, value)
            if dirty:  # Eloquent only touches updated_at when an attribute changed
                contact.updated_at = utcnow()
            state.use_contact_allowance()  # in both modes: docs/server-bugs.rst#bug-update-allowance
            row = contact_dict(state, contact, site)
            row["mobile_code"], row["mobile"] = code, mobile
            return row

    def _validate_contact(self, fields: Fields, contact_id: str | None) -> None:
        """``ContactController::save``'s rules; the number must be free (but for the contact updated)."""

        def unique_mobile(attribute: str, value: Any) -> str | None:
            taken = self.state.mobile_taken(fields.get("mobile_code"), value, ignore_id=contact_id)
            return "The mobile has already been taken." if taken else None

        _validate(
            fields,
            [
                ("firstname", ["required", "string", "max:40"]),
                ("lastname", ["required", "string", "max:40"]),
                ("mobile_code", ["required"]),
                ("profile_image", ["nullable", "image", "mimes:jpg,jpeg,png"]),
                ("mobile", ["required", MOBILE_REGEX, unique_mobile]),
                ("city", ["nullable", "string"]),
                ("state", ["nullable", "string"]),
                ("post_code", ["nullable", "string"]),
                ("address", ["nullable", "string"]),
            ],
        )

    @staticmethod
    def _address(fields: Fields) -> dict[str, Any]:
        return address_object(
            fields.get("city"),
            fields.get("state"),
            fields.get("post_code"),
            fields.get("address"),
            fields["mobile_code"],
        )

    def _stored_image(self, fields: Fields) -> str | None:
        """The stored name of an uploaded ``profile_image``: FileManager's ``uniqid() . time() . '.' . ext``."""
        upload = fields.get("profile_image")
        if not isinstance(upload, UploadedFile):
            return None
        return f"{self.state.random_hex(13)}{int(time.time())}.{upload.client_extension}"

    def delete_contact(self, contact_id: str) -> None:
        """contact/delete/{id}: refused for a contact with messages or a blocked one."""
        state = self.state
        with state.lock:
            contact = state.find_contact(contact_id)
            if contact is None:
                raise NotFound("The contact not found")
            conversation = state.conversation_for_contact(contact.id)
            if conversation is not None and state.messages_of(conversation.id):
                raise BackendError("Unable to delete contact with messages", remark="contact_error")
            if contact.is_blocked:
                raise BackendError("Unable to delete contact which is blocked", remark="contact_error")
            # Tags and lists are detached with the contact; the conversation row stays behind.
            state.delete_contact(contact)

    # -- InboxController ------------------------------------------------------------------------

    def list_conversations(self, fields: Fields, *, site: str, page_path: str) -> dict[str, Any]:
        """inbox/conversation-list: latest message first, filtered by contact ``search`` and ``status``."""
        state = self.state
        search, status = fields.get("search"), fields.get("status")
        if isinstance(search, (list, dict)):
            raise ServerException("Array to string conversion")
        with state.lock:
            rows = sorted(state.conversations.values(), key=lambda c: c.id)
            # latest('last_message_at'): newest first, NULLs last (MySQL sorts NULL lowest).
            rows.sort(key=lambda c: c.last_message_at.timestamp() if c.last_message_at else float("-inf"), reverse=True)
            if php_truthy(search):
                term = php_str(search)
                rows = [c for c in rows if self._contact_matches(c, term)]
            if status is not None:  # filter(['status']): a plain equality, so 4 matches a stored 4
                wanted = status if isinstance(status, list) else [status]
                rows = [c for c in rows if any(float(c.status) == mysql_number(w) for w in wanted)]
            page = paginate(rows, page=fields.get("page"), per_page=fields.get("paginate"), path=page_path)
            page["data"] = [conversation_dict(state, c, site) for c in page["data"]]
        return page

    def _contact_matches(self, conversation: Conversation, term: str) -> bool:
        contact = self.state.contacts.get(conversation.contact_id) if conversation.contact_id else None
        if contact is None:
            return False
        return any(mysql_like(term, v) for v in (contact.firstname, contact.lastname, contact.mobile))

    def list_templates(self, fields: Fields, *, page_path: str) -> dict[str, Any]:
        """inbox/template-list: every template, any status, in id order (no ORDER BY)."""
        with self.state.lock:
            rows = sorted(self.state.templates.values(), key=lambda t: t.id)
            page = paginate(rows, page=fields.get("page"), per_page=fields.get("paginate"), path=page_path)
            page["data"] = [serializers.template_dict(t) for t in page["data"]]
        return page

    def set_conversation_status(self, fields: Fields, conversation_id: str) -> None:
        """inbox/change-conversation-status/{id}: 0 to 3 (4 = unread is not allowed here)."""
        _validate(fields, [("status", ["required", "integer", "in:1,2,3,0"])])
        with self.state.lock:
            conversation = self.state.find_conversation(conversation_id)
            if conversation is None:
                raise NotFound("Conversation not found")
            new_status = int(mysql_number(fields["status"]))
            if new_status != conversation.status:
                conversation.status = new_status
                conversation.updated_at = utcnow()

    def conversation_details(self, conversation_id: str, *, site: str) -> dict[str, Any]:
        """inbox/conversation-details/{id}: the conversation, its contact with tags and lists."""
        with self.state.lock:
            conversation = self.state.find_conversation(conversation_id)
            if conversation is None:
                raise NotFound("Conversation not found")
            return conversation_dict(self.state, conversation, site, details=True)

    def send_message(self, fields: Fields) -> dict[str, Any]:
        """inbox/send-message (``InboxController::sendMessage`` + ``WhatsAppLib::messageSend``): a text,
        a media file or a location; returns ``conversation_id`` and the stored ``message``."""
        _validate(
            fields,
            [
                (
                    "message",
                    [
                        "required_without_all:image,document,video,audio,cta_url_id,latitude,longitude,"
                        "interactive_list_id,product,created_order_data"
                    ],
                ),
                ("image", ["nullable", "image", "mimes:jpg,jpeg,png", "max:5120"]),
                ("document", ["nullable", "file", "mimes:pdf,doc,docx", "max:102400"]),
                ("video", ["nullable", "file", "mimes:mp4", "max:16384"]),
                ("audio", ["nullable", "file", "max:16384"]),
                ("cta_url_id", ["nullable", "int"]),
                ("interactive_list_id", ["nullable", "int"]),
                # "when the other is the string '!=' or '0'": what required_if makes of these parameters.
                ("latitude", ["required_if:longitude,!=,0"]),
                ("longitude", ["required_if:latitude,!=,0"]),
                ("mobile_code", ["required"]),
                ("mobile", ["required", MOBILE_REGEX]),
                ("from_number", ["nullable"]),
            ],
            {
                "message.required_without_all": "The message should not be empty.",
                "longitude.required_if": "The longitude field is required when latitude is not empty.",
            },
        )
        state = self.state
        with state.lock:
            account = state.account_for_send(fields.get("from_number"))
            if account is None:
                raise NotFound("The whatsapp account is not found")
            code, mobile = fields["mobile_code"], fields["mobile"]
            contact, conversation = self._contact_and_conversation(code, mobile)
            if php_truthy(fields.get("cta_url_id")):
                raise NotFound("The cta url is not found")
            if php_truthy(fields.get("interactive_list_id")):
                raise NotFound("The interactive list is not found")
            if _json_value(fields.get("product")) or _json_value(fields.get("created_order_data")):
                raise NotFound(NO_ECOMMERCE)

            media_kind = next(
                (k for k in ("image", "document", "video", "audio") if isinstance(fields.get(k), UploadedFile)), None
            )
            graph = f"https://graph.facebook.com/v22.0/{account.phone_number_id}"
            if state.meta_unreachable():  # media are uploaded first, so that is the call that fails
                raise ServerException(curl_could_not_resolve(f"{graph}/{'media' if media_kind else 'messages'}"))

            text = fields.get("message")
            columns = self._message_columns(fields, media_kind)
            delivery = {
                "kind": media_kind or ("location" if "location" in columns else "text"),
                "route": "text",
                "body": None if "location" in columns or text is None else php_str(text),
                "location": columns.get("location"),
            }
            # The call to Meta: an injected outcome may end the send here.
            outcome = self.outcomes.pick("text")
            if outcome is not None and not outcome.meta_accepted:
                early_curl = media_kind is not None and outcome.kind in ("curl_6", "curl_7")
                url = f"{graph}/{'media' if early_curl else 'messages'}"
                self._end_send(outcome, url, (code, mobile), contact, delivery)

            if contact is None:  # patched: the documented auto-create
                contact = state.add_contact("", "", code, mobile)
            if conversation is None:
                conversation = state.conversation_for_contact(contact.id) or state.create_conversation(contact.id)
            if outcome is not None and outcome.kind == "messages_insert_sql":  # the SQL shows the text
                row = {
                    "message": php_str(text) if text is not None else None,
                    "message_type": columns["message_type"],
                    "location": json.dumps(columns["location"]) if "location" in columns else None,
                }
                self._message_insert_failed(outcome, contact, conversation, account.id, delivery, row)
            stored = dict(columns, whatsapp_account_id=account.id, rendered=php_str(text) if text is not None else None)
            message = self._store_sent(outcome, contact, conversation, delivery, stored)
            answer = {"conversation_id": conversation.id, "message": sent_message_dict(message)}
        self._notify_sent(contact)
        return answer

    def _message_columns(self, fields: Fields, media_kind: str | None) -> dict[str, Any]:
        """The columns of a send-message row: a media file, a location or (else) a text."""
        state = self.state
        text = fields.get("message")
        latitude, longitude = fields.get("latitude"), fields.get("longitude")
        columns: dict[str, Any] = {"message": text}
        if media_kind is not None:
            upload: UploadedFile = fields[media_kind]
            media_id = state.random_digits(16)
            columns.update(
                media_id=media_id,
                media_caption=text,
                media_type=media_kind,
                mime_type=upload.guess_mime(),
                media_url=(
                    "https://lookaside.fbsbx.com/whatsapp_business/attachments/"
                    f"?mid={media_id}&ext={int(time.time())}&hash=ATu{state.random_hex(24)}"
                ),
                message_type=MESSAGE_TYPES[media_kind],
            )
            if media_kind == "document":
                columns["media_filename"] = upload.filename
            else:
                ext = upload.guess_extension() or upload.client_extension
                columns["media_path"] = f"{utcnow():%Y/%m/%d}/{state.random_hex(13)}.{ext}"
        elif php_truthy(latitude) and php_truthy(longitude):
            columns["message_type"] = MESSAGE_TYPES["location"]
            columns["location"] = {
                "latitude": latitude,
                "longitude": longitude,
                "name": fields.get("name") if fields.get("name") is not None else "",
                "address": fields.get("address") if fields.get("address") is not None else "",
            }
        else:
            # A text, possibly empty: a lone or zero coordinate sends an empty text, since PHP's
            # `$lat && $long` is false for "0" (docs/server-bugs.rst#bug-zero-coordinate).
            columns["message_type"] = MESSAGE_TYPES["text"]
        return columns

    def send_template(self, fields: Fields) -> int:
        """inbox/send-template-message (``InboxController::sendTemplateMessage`` +
        ``WhatsAppLib::sendTemplateMessage``); returns the conversation id (a patched server only: the
        real one fails after the send, docs/server-bugs.rst#bug-post-send-exception)."""
        _validate(
            fields,
            [
                ("template_id", ["required"]),
                ("mobile_code", ["required"]),
                ("mobile", ["required", MOBILE_REGEX]),
                ("from_number", ["nullable"]),  # validated, then ignored: the default account sends
            ],
        )
        state = self.state
        with state.lock:
            code, mobile = fields["mobile_code"], fields["mobile"]
            contact, conversation = self._contact_and_conversation(code, mobile)
            template = state.approved_template(fields["template_id"])
            if template is None:
                raise NotFound("The template is not found")
            account = state.default_account()
            if account is None:
                raise NotFound("Please connect your whatsapp account first")
            params = {
                key: [self._personalise(php_str(v), contact, code, mobile) for v in _php_array(fields.get(key))]
                for key in ("body_variables", "header_variables")
            }
            url = f"https://graph.facebook.com/v22.0/{account.phone_number_id}/messages"
            if state.meta_unreachable():  # the token rides in the query string of the logged URL
                raise ServerException(curl_could_not_resolve(f"{url}?access_token={self.config.meta_access_token}"))
            header = render(template.header_text, params["header_variables"])
            body = render(template.body, params["body_variables"])
            rendered = f"{header}\n{body}" if header else body
            delivery = {"kind": "template", "route": "template", "body": rendered, "template_id": template.id}

            # The call to Meta: an injected outcome may end the send here.
            outcome = self.outcomes.pick("template")
            if outcome is not None and not outcome.meta_accepted:
                self._end_send(outcome, url, (code, mobile), contact, delivery)
            refusal = meta_template_refusal(template, params["body_variables"], params["header_variables"])
            if refusal is not None:  # Meta answers 4xx; the template path returns error_data.details
                raise ServerException(refusal)

            if contact is None:  # patched: the documented auto-create
                contact = state.add_contact("", "", code, mobile)
            if conversation is None:
                conversation = state.conversation_for_contact(contact.id) or state.create_conversation(contact.id)
            if outcome is not None and outcome.kind == "messages_insert_sql":
                row = {"template_id": template.id, "message_type": MESSAGE_TYPES["text"]}
                self._message_insert_failed(outcome, contact, conversation, account.id, delivery, row)
            stored = {
                "template_id": template.id,
                "whatsapp_account_id": account.id,
                "body_variables": params["body_variables"],
                "header_variables": params["header_variables"],
                "rendered": rendered,
            }
            self._store_sent(outcome, contact, conversation, delivery, stored)
        self._notify_sent(contact)
        if not self.config.patched:
            # $conversationId is undefined: the ErrorException is caught after the send
            # (docs/server-bugs.rst#bug-post-send-exception).
            raise ServerException(UNDEFINED_CONVERSATION_ID)
        return conversation.id

    # -- the steps both sends share ---------------------------------------------------------------

    def _contact_and_conversation(self, code: Any, mobile: Any) -> tuple[Contact | None, Conversation | None]:
        """The saved contact of the number, and (real server) its conversation, made before any check.

        The real server fails for a number that is not a contact (docs/server-bugs.rst#bug-not-a-contact)
        and leaves an empty conversation behind when the send fails later
        (docs/server-bugs.rst#bug-empty-conversations); a blocked contact is refused in both modes.
        """
        state = self.state
        contact = state.contact_by_number(code, mobile)
        conversation: Conversation | None = None
        if not self.config.patched:
            if contact is None:  # the unsaved new contact has no id, so the conversation insert fails
                raise ServerException(sql_contact_id_null(utcnow()))
            conversation = state.conversation_for_contact(contact.id) or state.create_conversation(contact.id)
        if contact is not None and contact.is_blocked:
            raise NotFound(BLOCKED)
        return contact, conversation

    def _personalise(self, value: str, contact: Contact | None, code: Any, mobile: Any) -> str:
        """``parseTemplateParams``: the ``{{ contactName }}``-style shortcodes inside variable values."""
        if "{{" not in value:
            return value
        if contact is not None:
            name = full_name(self.config, contact.firstname, contact.lastname, code, mobile)
        else:
            name = full_name(self.config, "", "", code, mobile)
        account = self.state.default_account()
        replacements = {
            "contactName": name,
            "contactMobile": f"{php_str(code)}{php_str(mobile)}",
            "userName": "simulator",
            "userMobile": account.phone_number if account else "",
        }
        return _SHORTCODE_RE.sub(lambda m: replacements[m.group(1)], value)

    def _end_send(
        self, outcome: SendOutcome, url: str, number: tuple[Any, Any], contact: Contact | None, delivery: dict[str, Any]
    ) -> None:
        """Raise :class:`SendEnded`: the send ends at the call to Meta as ``outcome`` says (Meta may still
        have delivered to ``number``, the request's ``(mobile_code, mobile)``)."""
        route = delivery["route"]
        if outcome.delivered:
            self.deliveries.record(php_str(number[0]), php_str(number[1]), outcome=outcome.kind, **delivery)
            if contact is not None:
                self._notify_sent(contact)
        text = None if outcome.kind in HTTP_500_KINDS else outcome.text(route, url, self.config.meta_access_token)
        raise SendEnded(outcome, text)

    def _store_sent(
        self,
        outcome: SendOutcome | None,
        contact: Contact,
        conversation: Conversation,
        delivery: dict[str, Any],
        columns: dict[str, Any],
    ) -> Message:
        """Meta delivered: the message row is stored; a ``conversation_update_sql`` outcome then fails
        the update of the conversation, which keeps its old columns."""
        untouched = _conversation_columns(conversation)
        message = self.state.store_message(conversation, contact, type=MESSAGE_SENT, **columns)
        self.deliveries.record(
            contact.mobile_code,
            contact.mobile,
            outcome=outcome.kind if outcome is not None else "success",
            message_id=message.id,
            whatsapp_message_id=message.whatsapp_message_id,
            **delivery,
        )
        if outcome is not None:  # conversation_update_sql
            _restore_conversation(conversation, untouched)
            self._notify_sent(contact)
            raise ServerException(sql_conversation_update(conversation.id, utcnow()))
        return message

    def _message_insert_failed(
        self,
        outcome: SendOutcome,
        contact: Contact,
        conversation: Conversation,
        account_id: int,
        delivery: dict[str, Any],
        row: dict[str, Any],
    ) -> None:
        """Meta delivered, then ``insert into messages`` failed: nothing stored, the SQL in the answer."""
        wamid = self.state.wamid()
        self.deliveries.record(
            contact.mobile_code, contact.mobile, outcome=outcome.kind, whatsapp_message_id=wamid, **delivery
        )
        self._notify_sent(contact)
        now = utcnow().strftime("%Y-%m-%d %H:%M:%S")
        head = {
            "user_id": conversation.user_id,
            "whatsapp_account_id": account_id,
            "whatsapp_message_id": wamid,
            "conversation_id": conversation.id,
        }
        if "template_id" in row:
            head["template_id"] = row.pop("template_id")
        head["type"] = MESSAGE_SENT
        tail = {"status": 1, "ordering": now, "updated_at": now, "created_at": now}
        raise ServerException(sql_messages_insert({**head, **row, **tail}))

    def _notify_sent(self, contact: Contact) -> None:
        if self.on_sent is not None:
            try:
                self.on_sent(contact)
            except Exception:  # an auto-reply hook must never break the answer
                logger.exception("WapiFlow simulator: on_sent hook failed")


def _validate(fields: Fields, rules: list[tuple[str, list[Any]]], messages: dict[str, str] | None = None) -> None:
    errors = Validator(fields, rules, messages).errors()
    if errors:
        raise ValidationFailed(errors)


def _php_array(value: Any) -> list[Any]:
    """The values ``foreach`` walks; PHP throws for a scalar."""
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return value
    raise ServerException(f"foreach() argument must be of type array|object, {_php_type(value)} given")


def _php_type(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string"}.get(type(value), "null")


def _conversation_columns(conversation: Conversation) -> tuple[Any, ...]:
    return (
        conversation.last_message_at,
        conversation.updated_at,
        conversation.whatsapp_account_id,
        conversation.needs_human_reply,
    )


def _restore_conversation(conversation: Conversation, columns: tuple[Any, ...]) -> None:
    """The ``update conversations`` that failed: none of its columns changed."""
    (
        conversation.last_message_at,
        conversation.updated_at,
        conversation.whatsapp_account_id,
        conversation.needs_human_reply,
    ) = columns


def _json_value(value: Any) -> Any:
    """``json_decode($value, true)`` for the product / created_order_data inputs (invalid JSON is null)."""
    if not php_truthy(value) or not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None
