"""
WapiFlow conversations: the conversation split, and finding a conversation that meets conditions.

The external API finds a contact's conversation by user and contact only (the oldest one) and never sets
its ``whatsapp_account_id``: the conversations it creates keep ``whatsapp_account_id`` 0, successful
sends included. Meta's webhook files a customer's reply under the contact's conversation of the WhatsApp
account (``whatsapp_account_id`` = the account) and creates it if there is none. So:

* a contact first messaged through the API has two conversations: the *API conversation* (our sends
  move its ``last_message_at``, no reply ever arrives there, agents never see it in the web inbox) and
  the *reply conversation* (only the customer's messages and agents' web-inbox answers move it);
* a contact who wrote first has one conversation, the account's, and our API sends land there too
  (it is the oldest): a *shared* conversation, where our own sends and replies cannot be told apart.

See :ref:`bug-conversation-split`. A :class:`ConversationQuery` names a conversation and the
conditions it must meet; the conversation sensor, its trigger and the set-status operator all decide
with it, so that the worker and the triggerer cannot disagree on which conversation is meant or on
when the wait is over. Only the ``fetch_*`` and ``check_*`` functions do I/O (through the hook given
to them); everything else is pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_wapiflow.exceptions import WapiFlowError, WapiFlowInputError, WapiFlowServerError
from airflow_provider_wapiflow.models import ConversationStatus, Phone, mask_phone
from airflow_provider_wapiflow.parsing import (
    is_templated,
    iso_utc,
    parse_conversation_id,
    parse_datetime,
    parse_statuses,
    to_second,
)

if TYPE_CHECKING:
    from airflow_provider_wapiflow.hooks.wapiflow import WapiFlowAsyncHook, WapiFlowHook

#: Conversations read per page when looking a phone up (the search narrows them to a handful).
SEARCH_PAGE_SIZE = 100

#: The send summary keeps at most this many ``delivered_at`` entries (the send operators' list cap).
DELIVERED_AT_CAP = 1000


# --- the conversation split -------------------------------------------------------------------------


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


# --- when the customer wrote ------------------------------------------------------------------------


def replied_after_from(value: Any, phone: Phone | None, field: str = "replied_after") -> datetime:
    """
    The cut-off of "the customer wrote after our message": a datetime, an ISO string, or a send summary.

    From a send summary (the send operators' XCom, a mapping or its JSON text), the time of the *first*
    try's delivery to ``phone`` (``delivered_at[phone_key]``, on WapiFlow's clock), so a task retry never
    moves the cut-off past a reply that already arrived. When the summary's ``delivered_at`` was capped
    (1000 entries), its ``first_delivered_at``: an earlier cut-off, never a later one.

    :raises WapiFlowInputError: the summary has no delivery for this phone, or no phone to look up.
    """
    if isinstance(value, str) and value.strip().startswith(("{", "[")):
        value = _summary_from_text(value, field)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return _replied_after_from_summaries(list(value), phone, field)
    if not isinstance(value, Mapping):
        return parse_datetime(value, field)
    if phone is None:
        raise WapiFlowInputError(
            f"'{field}' is a send summary: give the customer's 'phone' (or 'mobile_code' + 'mobile') to pick "
            "their delivery time, or pass a datetime"
        )
    delivered = value.get("delivered_at")
    if not isinstance(delivered, Mapping) and value.get("started_at"):
        # A summary from before ``delivered_at`` existed: its try's start is earlier than any of its deliveries.
        return parse_datetime(value["started_at"], f"{field}['started_at']")
    if not isinstance(delivered, Mapping):
        raise WapiFlowInputError(
            f"'{field}': the send summary has no 'delivered_at' (got keys {sorted(map(str, value))[:12]}); "
            "pass the summary of a SendTemplateOperator / SendMessageOperator, or a datetime"
        )
    if phone.key in delivered:
        return parse_datetime(delivered[phone.key], f"{field}['delivered_at'][{phone.key!r}]")
    first = value.get("first_delivered_at")
    if first and len(delivered) >= DELIVERED_AT_CAP:
        return parse_datetime(first, f"{field}['first_delivered_at']")
    raise WapiFlowInputError(
        f"'{field}': the send summary has no delivery to {phone}: this task did not deliver to that number "
        "(failed, unknown, skipped or not among the recipients), so there is no message to wait for an answer to"
    )


def _replied_after_from_summaries(summaries: list[Any], phone: Phone | None, field: str) -> datetime:
    """The cut-off from the summaries of a mapped send (one per batch): the batch that delivered to ``phone``."""
    if not summaries or not all(isinstance(summary, Mapping) for summary in summaries):
        raise WapiFlowInputError(
            f"'{field}' is a list: it must hold send summaries (the output of a mapped send task), got "
            f"{[type(summary).__name__ for summary in summaries][:5]}"
        )
    if phone is not None:
        for summary in summaries:
            delivered = summary.get("delivered_at")
            if isinstance(delivered, Mapping) and phone.key in delivered:
                return replied_after_from(summary, phone, field)
    for summary in summaries:  # a capped ``delivered_at`` still bounds the cut-off by its first delivery
        try:
            return replied_after_from(summary, phone, field)
        except WapiFlowInputError:
            continue
    raise WapiFlowInputError(
        f"'{field}': none of the {len(summaries)} send summaries has a delivery to {phone}: the send did not "
        "deliver to that number (failed, unknown or not among the recipients)"
    )


def _summary_from_text(text: str, field: str) -> Any:
    import ast

    try:
        return json.loads(text)
    except ValueError:
        pass
    try:  # a Jinja-rendered dict: its Python repr
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise WapiFlowInputError(f"'{field}' looks like a send summary but is neither JSON nor a dict") from None


# --- what is looked for -----------------------------------------------------------------------------


def _given(value: Any) -> bool:
    return value is not None


def check_target_args(conversation_id: Any, phone: Any, mobile_code: Any, mobile: Any) -> None:
    """
    Check, at DAG parse time, that exactly one way to find the conversation was given.

    Values that are templated are only checked for presence here; :func:`target_from_args` checks
    them after rendering.

    :raises WapiFlowInputError: naming the fields.
    """
    if _given(mobile_code) != _given(mobile):
        have, missing = ("mobile_code", "mobile") if _given(mobile_code) else ("mobile", "mobile_code")
        raise WapiFlowInputError(f"'{missing}' is missing: '{have}' needs '{missing}' too")
    ways = [
        name
        for name, value in (
            ("'conversation_id'", conversation_id),
            ("'phone'", phone),
            ("'mobile_code' + 'mobile'", mobile_code),
        )
        if _given(value)
    ]
    if not ways:
        raise WapiFlowInputError(
            "say which conversation: give 'conversation_id', 'phone' (E.164) or 'mobile_code' + 'mobile'"
        )
    if len(ways) > 1:
        raise WapiFlowInputError(
            f"give only one of 'conversation_id', 'phone', 'mobile_code' + 'mobile'; got {' and '.join(ways)}"
        )
    if _given(conversation_id) and not is_templated(conversation_id):
        parse_conversation_id(conversation_id)
    if _given(phone) and not is_templated(phone):
        Phone.parse(phone=phone)
    if _given(mobile_code) and not (is_templated(mobile_code) or is_templated(mobile)):
        Phone.parse(mobile_code=mobile_code, mobile=mobile)


@dataclass(frozen=True)
class ConversationTarget:
    """The conversation meant: by id, or the conversation of a contact's phone number."""

    conversation_id: int | None = None
    phone: Phone | None = None

    def __post_init__(self) -> None:
        if (self.conversation_id is None) == (self.phone is None):
            raise WapiFlowInputError("a conversation is found by 'conversation_id' or by phone, exactly one")

    def describe(self) -> str:
        """``conversation 7`` or ``the conversation of +*********222`` (the phone masked)."""
        if self.conversation_id is not None:
            return f"conversation {self.conversation_id}"
        return f"the conversation of {self.phone}"


def target_from_args(conversation_id: Any, phone: Any, mobile_code: Any, mobile: Any) -> ConversationTarget:
    """
    Build the target from an operator's (rendered) arguments, validating each one.

    :raises WapiFlowInputError: naming the field and the reason.
    """
    check_target_args(conversation_id, phone, mobile_code, mobile)
    if _given(conversation_id):
        return ConversationTarget(conversation_id=parse_conversation_id(conversation_id))
    if _given(phone):
        return ConversationTarget(phone=Phone.parse(phone=phone))
    return ConversationTarget(phone=Phone.parse(mobile_code=mobile_code, mobile=mobile))


@dataclass(frozen=True)
class Check:
    """The result of one check: done, the conversation (when found) and why it is not done yet."""

    done: bool
    conversation: dict[str, Any] | None
    reason: str
    #: Set when waiting cannot help (an API-created conversation given by id): the message to fail with.
    fatal: str | None = None


@dataclass(frozen=True)
class ConversationQuery:
    """
    A target and the conditions it must meet, all of them (AND).

    :param target: the conversation meant.
    :param statuses: the conversation's status must be one of these; None: any status.
    :param updated_after: the conversation's ``last_message_at`` must be later than this, compared
        in whole seconds (UTC); None: no condition on messages.
    :param replied_after: the customer wrote after this time (see :meth:`unmet`); None: no such condition.
    """

    target: ConversationTarget
    statuses: frozenset[ConversationStatus] | None = None
    updated_after: datetime | None = None
    replied_after: datetime | None = None

    def describe(self) -> str:
        conditions = []
        if self.statuses is not None:
            conditions.append("status " + " or ".join(s.name for s in sorted(self.statuses)))
        if self.updated_after is not None:
            conditions.append(f"a message after {_show(self.updated_after)}")
        if self.replied_after is not None:
            conditions.append(f"a reply after {_show(self.replied_after)}")
        wanted = " and ".join(conditions) if conditions else "to exist"
        return f"{self.target.describe()} ({wanted})"

    # JSON form, for the trigger's kwargs: plain ints and strings only, never a pickle.
    def to_json(self) -> dict[str, Any]:
        phone = self.target.phone
        return {
            "conversation_id": self.target.conversation_id,
            "mobile_code": phone.mobile_code if phone else None,
            "mobile": phone.mobile if phone else None,
            "statuses": sorted(int(s) for s in self.statuses) if self.statuses is not None else None,
            "updated_after": iso_utc(self.updated_after) if self.updated_after is not None else None,
            "replied_after": iso_utc(self.replied_after) if self.replied_after is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConversationQuery:
        return cls.build(
            conversation_id=data.get("conversation_id"),
            mobile_code=data.get("mobile_code"),
            mobile=data.get("mobile"),
            statuses=data.get("statuses"),
            updated_after=data.get("updated_after"),
            replied_after=data.get("replied_after"),
        )

    @classmethod
    def build(
        cls,
        *,
        conversation_id: Any = None,
        phone: Any = None,
        mobile_code: Any = None,
        mobile: Any = None,
        statuses: Any = None,
        updated_after: Any = None,
        replied_after: Any = None,
    ) -> ConversationQuery:
        """Validate (rendered) arguments into a query. :raises WapiFlowInputError: naming the field."""
        target = target_from_args(conversation_id, phone, mobile_code, mobile)
        return cls(
            target=target,
            statuses=parse_statuses(statuses),
            updated_after=parse_datetime(updated_after, "updated_after") if updated_after is not None else None,
            replied_after=replied_after_from(replied_after, target.phone) if replied_after is not None else None,
        )

    # --- evaluation -----------------------------------------------------------------------------

    def evaluate(self, conversations: Iterable[Mapping[str, Any]]) -> Check:
        """
        Decide from what WapiFlow returned.

        By phone, only conversations whose contact has exactly this code and number count (the
        server's search also matches names and partial numbers), and of those only the ones where
        replies arrive (``whatsapp_account_id`` ≠ 0, the conversation split): the API conversation is never
        chosen. If there are several (one per WhatsApp account), the first one meeting the conditions
        wins (WapiFlow lists the latest activity first). A contact with only the API conversation has
        "no reply conversation yet".

        By id, an API-created conversation is a fatal :class:`Check`: no reply will ever arrive there.
        """
        candidates = self.candidates(conversations)
        if self.target.conversation_id is not None:
            if not candidates:
                return Check(False, None, f"no conversation {self.target.conversation_id}")
            conversation = candidates[0]
            if is_api_conversation(conversation):
                return Check(
                    False,
                    conversation,
                    "created by the API",
                    fatal=f"conversation {self.target.conversation_id} was created by WapiFlow's external API "
                    "(whatsapp_account_id 0): customer replies never arrive there and agents never see it "
                    "(the conversation split). Wait by phone instead: ConversationSensor(phone=...) "
                    "follows the conversation where replies arrive.",
                )
            # By id the contact's other conversations are unknown: assume ours may land here too.
            reason = self.unmet(conversation, shared=True)
            return Check(reason is None, conversation, reason or "conditions met")
        if not candidates:
            return Check(False, None, f"no conversation yet for {self.target.phone}")
        replies = reply_conversations(candidates)
        if not replies:
            ids = ", ".join(str(c.get("id")) for c in candidates)
            return Check(
                False,
                None,
                f"no reply conversation yet for {self.target.phone} (only the API's conversation {ids}, where "
                "replies never arrive; the customer's first message opens a new one)",
            )
        reasons = []
        for conversation in replies:
            reason = self.unmet(conversation, shared=is_shared(conversation, candidates))
            if reason is None:
                return Check(True, conversation, "conditions met")
            reasons.append(reason)
        return Check(False, replies[0], reasons[0])

    def candidates(self, conversations: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The conversations that belong to the target, in WapiFlow's order (latest activity first)."""
        return [dict(c) for c in conversations if self._is_target(c)]

    def _is_target(self, conversation: Mapping[str, Any]) -> bool:
        phone = self.target.phone
        if phone is None:
            return True
        contact = conversation.get("contact")
        if not isinstance(contact, Mapping):
            return False
        return (
            str(contact.get("mobile_code", "")).strip().lstrip("+") == phone.mobile_code
            and str(contact.get("mobile", "")).strip() == phone.mobile
        )

    def unmet(self, conversation: Mapping[str, Any], *, shared: bool = True) -> str | None:
        """
        Why ``conversation`` does not meet the conditions yet, or None when it meets them all.

        ``replied_after`` ("the customer wrote after our message") needs the conversation's
        ``last_message_at`` at or after the cut-off's second when our API sends never land in it (the
        split case: only replies and agents move it), and in a later second when they may
        (``shared``: the customer wrote first, so our sends and replies share it and a message in the
        cut-off's second may be ours).
        """
        unmet = []
        if self.statuses is not None:
            status = _status_of(conversation)
            if status not in self.statuses:
                shown = status.name if isinstance(status, ConversationStatus) else repr(status)
                wanted = " or ".join(s.name for s in sorted(self.statuses))
                unmet.append(f"status is {shown}, waiting for {wanted}")
        if self.updated_after is not None:
            raw = conversation.get("last_message_at")
            if not raw:
                unmet.append("no message yet")
            else:
                try:
                    last = parse_datetime(raw, "last_message_at")
                except WapiFlowInputError:
                    unmet.append(f"unreadable last_message_at {raw!r}")
                else:
                    # WapiFlow keeps whole seconds: a message in the same second as updated_after cannot
                    # be told apart from the message we sent, so only a later second counts.
                    after = self.updated_after
                    if not to_second(last) > to_second(after):
                        unmet.append(f"last message at {_show(last)}, waiting for one after {_show(after)}")
        if self.replied_after is not None:
            reason = _reply_unmet(conversation, self.replied_after, shared=shared)
            if reason:
                unmet.append(reason)
        return "; ".join(unmet) if unmet else None


def _reply_unmet(conversation: Mapping[str, Any], cutoff: datetime, *, shared: bool) -> str | None:
    raw = conversation.get("last_message_at")
    if not raw:
        return "no reply yet"
    try:
        last = to_second(parse_datetime(raw, "last_message_at"))
    except WapiFlowInputError:
        return f"unreadable last_message_at {raw!r}"
    after = to_second(cutoff)
    if last > after or (last == after and not shared):
        return None
    return f"no reply since {_show(after)} (last message at {_show(last)})"


def _status_of(conversation: Mapping[str, Any]) -> ConversationStatus | Any:
    raw = conversation.get("status")
    try:
        return ConversationStatus(int(raw))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return raw


def _show(moment: datetime) -> str:
    return to_second(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- I/O: the only two functions that talk to WapiFlow -----------------------------------------------


def fetch_sync(hook: WapiFlowHook, target: ConversationTarget) -> list[dict[str, Any]]:
    """Read the conversation by id, or the conversations the server's search finds for the phone."""
    if target.conversation_id is not None:
        return [hook.get_conversation(target.conversation_id)]
    assert target.phone is not None
    return list(hook.iter_conversations(search=target.phone.mobile, per_page=SEARCH_PAGE_SIZE))


async def fetch_async(hook: WapiFlowAsyncHook, target: ConversationTarget) -> list[dict[str, Any]]:
    """The async twin of :func:`fetch_sync`."""
    if target.conversation_id is not None:
        return [await hook.get_conversation(target.conversation_id)]
    assert target.phone is not None
    return [c async for c in hook.iter_conversations(search=target.phone.mobile, per_page=SEARCH_PAGE_SIZE)]


def check_sync(hook: WapiFlowHook, query: ConversationQuery) -> Check:
    """Fetch with the sync hook and evaluate."""
    return query.evaluate(fetch_sync(hook, query.target))


async def check_async(hook: WapiFlowAsyncHook, query: ConversationQuery) -> Check:
    """Fetch with the async hook and evaluate."""
    return query.evaluate(await fetch_async(hook, query.target))


def is_fatal(error: WapiFlowError) -> bool:
    """
    Whether waiting longer cannot help.

    Transient failures (:class:`WapiFlowServerError`: 5xx, 429, network, maintenance, a server
    exception) have already been retried by the hook and count as "not yet". Everything else —
    credentials, IP whitelist, plan, validation, bad input, an unknown conversation id or a wrong
    Base URL — fails at once. A phone without a conversation is not an error: it is "not yet".
    """
    return not isinstance(error, WapiFlowServerError)


__all__ = [
    "API_ACCOUNT_ID",
    "DELIVERED_AT_CAP",
    "PUBLIC_FIELDS",
    "SEARCH_PAGE_SIZE",
    "Check",
    "ConversationQuery",
    "ConversationTarget",
    "account_id_of",
    "api_send_target",
    "check_async",
    "check_sync",
    "check_target_args",
    "fetch_async",
    "fetch_sync",
    "is_api_conversation",
    "is_fatal",
    "is_shared",
    "masked_phone_of",
    "public_conversation",
    "replied_after_from",
    "reply_conversations",
    "target_from_args",
]
