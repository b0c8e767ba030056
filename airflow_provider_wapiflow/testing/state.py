"""The simulator's in-memory database: one WapiFlow user with contacts, conversations, messages and templates.

Thread-safe (every public method takes ``lock``; the HTTP thread and test code share one state) and
free of HTTP. Rows are dataclasses; ``serializers`` renders them the way the API does.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar, overload

from airflow_provider_wapiflow.testing.countries import country_for
from airflow_provider_wapiflow.testing.laravel import mysql_id_equals, mysql_number, php_str, php_truthy

USER_ID = 1

# Conversation.status (App\Constants\Status); 4 = UNREAD exists but the API cannot set it.
CONVERSATION_STATUSES = (0, 1, 2, 3)
# Template.status
TEMPLATE_PENDING, TEMPLATE_APPROVED, TEMPLATE_REJECTED, TEMPLATE_DISABLED = 0, 1, 2, 3
# Message.type / Message.status / Message.message_type
MESSAGE_SENT, MESSAGE_RECEIVED = 1, 2
STATUS_SENT = 1
MESSAGE_TYPES = {"text": 1, "image": 2, "video": 3, "document": 4, "audio": 5, "url": 6, "location": 8, "list": 9}

PLANS = ("active", "none", "expired", "no_api")

_PLACEHOLDER_RE = re.compile(r"\{\{\s*(\d+)\s*\}\}")


def utcnow() -> datetime:
    """Now, at whole seconds: MySQL ``timestamp`` columns drop the fraction."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def parse_ts(value: datetime | str | None) -> datetime | None:
    """Accept a datetime (naive = UTC) or an ISO string, for the seeding API."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0)


def placeholders(text: str | None) -> list[str]:
    """The distinct ``{{n}}`` placeholders of a template text, in order of first use."""
    return list(dict.fromkeys(_PLACEHOLDER_RE.findall(text or "")))


def render(text: str | None, variables: list[str]) -> str | None:
    """Fill ``{{n}}`` with ``variables[n-1]`` (what the customer reads)."""
    if text is None:
        return None

    def fill(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return variables[index] if 0 <= index < len(variables) else match.group(0)

    return _PLACEHOLDER_RE.sub(fill, text)


@dataclass
class SimConfig:
    """Settings fixed for the lifetime of a simulator."""

    client_id: str = "wapiflow-test-client"
    client_secret: str = "wapiflow-test-secret"
    patched: bool = False
    server_version: str = "2.3"
    allowed_ips: tuple[str, ...] = ("127.0.0.1",)
    meta_access_token: str = "EAAGsimulatedMetaAccessToken0123456789"
    seed_templates: bool = True


@dataclass
class Contact:
    id: int
    firstname: Any
    lastname: Any
    mobile_code: str
    mobile: str
    address: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    image: str | None = None
    status: int = 0
    details: Any = None
    is_customer: int = 0
    is_blocked: int = 0
    blocked_by: int = 0
    user_id: int = USER_ID
    tag_ids: list[int] = field(default_factory=list)
    list_ids: list[int] = field(default_factory=list)


@dataclass
class Conversation:
    id: int
    contact_id: int | None
    created_at: datetime
    updated_at: datetime
    status: int = 0
    whatsapp_account_id: int = 0
    last_message_at: datetime | None = None
    needs_human_reply: int = 0
    user_id: int = USER_ID


@dataclass
class Note:
    id: int
    conversation_id: int
    note: str
    created_at: datetime
    updated_at: datetime
    user_id: int = USER_ID


@dataclass
class Label:
    """A contact tag or a contact list (same columns)."""

    id: int
    name: str
    created_at: datetime
    updated_at: datetime
    user_id: int = USER_ID


@dataclass
class Template:
    id: int
    name: str
    body: str
    status: int
    whatsapp_template_id: str
    created_at: datetime
    updated_at: datetime
    header: dict[str, Any] | None = None
    header_format: str | None = None
    header_media: str | None = None
    buttons: list[Any] = field(default_factory=list)
    footer: str | None = None
    add_security_recommendation: int = 0
    code_expiration_minutes: int | None = None
    category_id: int = 2
    language_id: int = 1
    rejected_reason: str | None = None
    whatsapp_account_id: int = 1
    user_id: int = USER_ID
    # Simulator bookkeeping: Meta paused the template (low quality); WapiFlow still lists it as approved.
    paused: bool = False

    @property
    def header_text(self) -> str | None:
        if self.header is None:
            return None
        text = self.header.get("text")
        return text if isinstance(text, str) else None


@dataclass
class Message:
    id: int
    conversation_id: int
    type: int
    created_at: datetime
    updated_at: datetime
    ordering: datetime
    whatsapp_account_id: int
    whatsapp_message_id: str
    message: Any = None
    template_id: int | None = None
    cta_url_id: int = 0
    interactive_list_id: int = 0
    media_id: str | None = None
    message_type: int = 1
    location: dict[str, Any] | None = None
    media_caption: Any = None
    media_filename: str | None = None
    media_url: str | None = None
    media_path: str | None = None
    mime_type: str | None = None
    media_type: str | None = None
    agent_id: int = 0
    status: int = STATUS_SENT
    product_data: Any = None
    user_id: int = USER_ID
    # Simulator bookkeeping, not columns of the real table.
    contact_id: int | None = None
    mobile_code: str = ""
    mobile: str = ""
    body_variables: list[str] = field(default_factory=list)
    header_variables: list[str] = field(default_factory=list)
    rendered: str | None = None


@dataclass
class WhatsappAccount:
    id: int
    phone_number: str
    phone_number_id: str
    business_name: str
    is_default: int = 1
    user_id: int = USER_ID


class SimState:
    """Everything the simulated WapiFlow server stores, plus the account knobs tests turn."""

    def __init__(self, config: SimConfig, seed: int = 0) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._seed = seed
        self.reset()

    # -- lifecycle ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to a fresh account: no contacts or conversations, the seed templates, default knobs."""
        with self.lock:
            self.rng = random.Random(self._seed)
            self._ids: dict[str, int] = {}
            # Rows are kept in id order (ids only grow), so newest-first is the reverse insertion order.
            self.contacts: dict[int, Contact] = {}
            self.conversations: dict[int, Conversation] = {}
            # Indexes for the lookups every request makes; a scan per request would make the simulator,
            # not the client, the bottleneck of benchmarks with thousands of contacts.
            self._contact_by_number: dict[tuple[str, str], int] = {}
            self._conversation_by_contact: dict[int, int] = {}
            self.messages: dict[int, Message] = {}
            self.templates: dict[int, Template] = {}
            self.notes: dict[int, Note] = {}
            self.tags: dict[int, Label] = {}
            self.lists: dict[int, Label] = {}
            # Account knobs (see WapiFlowSimulator for their meaning).
            self.plan = "active"
            self.user_active = True
            self.contact_limit: int | None = None
            self.maintenance = False
            self.meta_outage = False
            # A passing outage (WapiFlowSimulator.meta_outage_for): sends still to go out, then sends to fail.
            self.meta_outage_window = (0, 0)
            self.whatsapp_accounts: list[WhatsappAccount] = []
            self.has_whatsapp_account = True
            if self.config.seed_templates:
                self._seed_templates()

    @property
    def has_whatsapp_account(self) -> bool:
        return bool(self.whatsapp_accounts)

    @has_whatsapp_account.setter
    def has_whatsapp_account(self, value: bool) -> None:
        with self.lock:
            if not value:
                self.whatsapp_accounts = []
            elif not self.whatsapp_accounts:
                self.whatsapp_accounts = [
                    WhatsappAccount(
                        id=1,
                        phone_number="15550001111",
                        phone_number_id="109876543210987",
                        business_name="WapiFlow Simulator",
                    )
                ]

    def _seed_templates(self) -> None:
        self.add_template("order_shipped", "Hi {{1}}, your order {{2}} has shipped.", category_id=1)
        self.add_template(
            "appointment_reminder",
            "Hello {{1}}, this is a reminder of your appointment on {{2}} at {{3}}.",
            category_id=1,
        )
        self.add_template("welcome", "Welcome to our service! We are happy to have you.")
        self.add_template(
            "order_update",
            "Hi {{1}}, the status of your order is now: {{2}}.",
            header={"text": "Order {{1}}"},
            header_format="TEXT",
            category_id=1,
        )
        self.add_template("summer_sale", "Summer sale: {{1}}% off everything!", status=TEMPLATE_PENDING)
        self.add_template(
            "free_money", "Claim your prize {{1}} now!", status=TEMPLATE_REJECTED, rejected_reason="PROMOTIONAL"
        )
        self.add_template("old_newsletter", "Our monthly newsletter is here.", status=TEMPLATE_DISABLED)
        # The failure alert of example_dags/wapiflow_failure_alert.py (task, DAG, try, log URL).
        self.add_template(
            "airflow_task_failed", "Airflow: task {{1}} of DAG {{2}} failed (try {{3}}). Logs: {{4}}", category_id=3
        )

    # -- helpers --------------------------------------------------------------------------------

    def next_id(self, table: str) -> int:
        with self.lock:
            self._ids[table] = self._ids.get(table, 0) + 1
            return self._ids[table]

    def random_digits(self, n: int) -> str:
        with self.lock:
            return "".join(self.rng.choice("0123456789") for _ in range(n))

    def random_hex(self, n: int) -> str:
        with self.lock:
            return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def wamid(self) -> str:
        """A WhatsApp message id in Meta's format."""
        with self.lock:
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
            return "wamid.HBgL" + "".join(self.rng.choices(alphabet, k=44))

    # -- contacts -------------------------------------------------------------------------------

    def add_contact(
        self,
        firstname: Any,
        lastname: Any,
        mobile_code: Any,
        mobile: Any,
        *,
        city: str = "",
        state: str = "",
        post_code: str = "",
        address: str = "",
        image: str | None = None,
        is_blocked: bool = False,
    ) -> Contact:
        with self.lock:
            now = utcnow()
            contact = Contact(
                id=self.next_id("contacts"),
                firstname=firstname,
                lastname=lastname,
                mobile_code=php_str(mobile_code),
                mobile=php_str(mobile),
                address=address_object(city, state, post_code, address, mobile_code),
                image=image,
                is_blocked=int(is_blocked),
                blocked_by=USER_ID if is_blocked else 0,
                created_at=now,
                updated_at=now,
            )
            self.contacts[contact.id] = contact
            self._contact_by_number.setdefault((contact.mobile_code, contact.mobile), contact.id)
            return contact

    def find_contact(self, contact_id: Any) -> Contact | None:
        """``Contact::find($id)``: MySQL compares the id column with the parameter as numbers."""
        with self.lock:
            return _find_by_id(self.contacts, contact_id)

    def contact_by_number(self, mobile_code: Any, mobile: Any) -> Contact | None:
        with self.lock:
            contact_id = self._contact_by_number.get((php_str(mobile_code), php_str(mobile)))
            return self.contacts.get(contact_id) if contact_id is not None else None

    def renumber_contact(self, contact: Contact, mobile_code: str, mobile: str) -> None:
        """Change a contact's number; every change of ``mobile_code`` / ``mobile`` goes through here."""
        with self.lock:
            old = (contact.mobile_code, contact.mobile)
            contact.mobile_code, contact.mobile = mobile_code, mobile
            if old != (mobile_code, mobile):
                self._unindex_number(old, contact.id)
                self._contact_by_number.setdefault((mobile_code, mobile), contact.id)

    def _unindex_number(self, key: tuple[str, str], contact_id: int) -> None:
        if self._contact_by_number.get(key) != contact_id:
            return
        del self._contact_by_number[key]
        # Numbers are unique, but seeding does not re-check them all: keep the lowest other id visible.
        other = next((c.id for c in self.contacts.values() if (c.mobile_code, c.mobile) == key), None)
        if other is not None:
            self._contact_by_number[key] = other

    def mobile_taken(self, mobile_code: Any, mobile: Any, ignore_id: Any = None) -> bool:
        """The ``unique`` rule: (mobile_code, mobile) per user, ignoring the contact being updated."""
        with self.lock:
            contact = self.contact_by_number(mobile_code, mobile)
            if contact is None or mobile_code is None:
                return False
            return ignore_id is None or not mysql_id_equals(contact.id, ignore_id)

    def delete_contact(self, contact: Contact) -> None:
        with self.lock:
            if self.contacts.pop(contact.id, None) is not None:
                self._unindex_number((contact.mobile_code, contact.mobile), contact.id)

    def contacts_newest_first(self) -> Sequence[Contact]:
        """Every contact, highest id first, as a sequence that pages without sorting or copying them all."""
        return _NewestFirst(self.contacts)

    # -- conversations --------------------------------------------------------------------------

    def conversation_for_contact(self, contact_id: int) -> Conversation | None:
        with self.lock:
            conversation_id = self._conversation_by_contact.get(contact_id)
            return self.conversations.get(conversation_id) if conversation_id is not None else None

    def create_conversation(self, contact_id: int | None) -> Conversation:
        with self.lock:
            now = utcnow()
            conversation = Conversation(
                id=self.next_id("conversations"), contact_id=contact_id, created_at=now, updated_at=now
            )
            self.conversations[conversation.id] = conversation
            if contact_id is not None:
                self._conversation_by_contact.setdefault(contact_id, conversation.id)
            return conversation

    def reply_conversation(self, contact_id: int) -> Conversation:
        """
        The conversation Meta's webhook files a customer's message under (docs/server-bugs.rst#bug-conversation-split).

        The real server looks for the contact's conversation of the WhatsApp account (never the API's
        ``whatsapp_account_id`` 0 one) and creates it if there is none; a patched server keeps the
        contact's single conversation.
        """
        with self.lock:
            if self.config.patched:
                return self.conversation_for_contact(contact_id) or self.create_conversation(contact_id)
            account = self.default_account() or (self.whatsapp_accounts[0] if self.whatsapp_accounts else None)
            account_id = account.id if account else 0
            found = next(
                (
                    c
                    for c in self.conversations.values()  # id order: the oldest first
                    if c.contact_id == contact_id and c.whatsapp_account_id == account_id and account_id
                ),
                None,
            )
            if found is not None:
                return found
            conversation = self.create_conversation(contact_id)
            conversation.whatsapp_account_id = account_id
            return conversation

    def find_conversation(self, conversation_id: Any) -> Conversation | None:
        with self.lock:
            return _find_by_id(self.conversations, conversation_id)

    def messages_of(self, conversation_id: int) -> list[Message]:
        with self.lock:
            return [m for m in self.messages.values() if m.conversation_id == conversation_id]

    def add_note(self, conversation_id: int, note: str) -> Note:
        with self.lock:
            now = utcnow()
            row = Note(self.next_id("notes"), conversation_id, note, now, now)
            self.notes[row.id] = row
            return row

    def add_label(self, kind: str, contact: Contact, name: str) -> Label:
        """Attach a tag (``kind="tags"``) or a list (``kind="lists"``) to a contact, creating it by name."""
        with self.lock:
            table = self.tags if kind == "tags" else self.lists
            label = next((t for t in table.values() if t.name == name), None)
            if label is None:
                now = utcnow()
                label = Label(self.next_id(kind), name, now, now)
                table[label.id] = label
            ids = contact.tag_ids if kind == "tags" else contact.list_ids
            if label.id not in ids:
                ids.append(label.id)
            return label

    # -- messages -------------------------------------------------------------------------------

    def store_message(self, conversation: Conversation, contact: Contact, **columns: Any) -> Message:
        """Insert a message row and touch the conversation as a send/receive does."""
        with self.lock:
            now = utcnow()
            account = self.whatsapp_accounts[0] if self.whatsapp_accounts else None
            columns.setdefault("whatsapp_account_id", account.id if account else 0)
            columns.setdefault("whatsapp_message_id", self.wamid())
            message = Message(
                id=self.next_id("messages"),
                conversation_id=conversation.id,
                created_at=now,
                updated_at=now,
                ordering=datetime.now(timezone.utc),
                contact_id=contact.id,
                mobile_code=contact.mobile_code,
                mobile=contact.mobile,
                **columns,
            )
            self.messages[message.id] = message
            conversation.last_message_at = now
            conversation.updated_at = now
            # The real API never sets the conversation's account, even on a successful send.
            if self.config.patched and message.whatsapp_account_id:
                conversation.whatsapp_account_id = message.whatsapp_account_id
            if message.type == MESSAGE_SENT and self.config.server_version == "1.8":
                conversation.needs_human_reply = 1
            return message

    # -- templates ------------------------------------------------------------------------------

    def add_template(
        self,
        name: str,
        body: str,
        *,
        status: int = TEMPLATE_APPROVED,
        header: dict[str, Any] | str | None = None,
        header_format: str | None = None,
        category_id: int = 2,
        rejected_reason: str | None = None,
    ) -> Template:
        with self.lock:
            if isinstance(header, str):
                header = {"text": header}
            if header is not None and header_format is None:
                header_format = "TEXT"
            now = utcnow()
            template = Template(
                id=self.next_id("templates"),
                name=name,
                body=body,
                status=int(status),
                whatsapp_template_id=self.random_digits(16),
                header=header,
                header_format=header_format,
                category_id=category_id,
                rejected_reason=rejected_reason,
                created_at=now,
                updated_at=now,
            )
            self.templates[template.id] = template
            return template

    def approved_template(self, template_id: Any) -> Template | None:
        with self.lock:
            return next(
                (
                    t
                    for t in self.templates.values()
                    if mysql_id_equals(t.id, template_id) and t.status == TEMPLATE_APPROVED
                ),
                None,
            )

    # -- WhatsApp accounts and plan ---------------------------------------------------------------

    def meta_unreachable(self) -> bool:
        """Whether the send now calling Meta finds it unreachable; a send inside a passing outage uses it up."""
        with self.lock:
            if self.meta_outage:
                return True
            before, during = self.meta_outage_window
            if before:
                self.meta_outage_window = (before - 1, during)
                return False
            if during:
                self.meta_outage_window = (0, during - 1)
                return True
            return False

    def default_account(self) -> WhatsappAccount | None:
        """``$user->currentWhatsapp()``: the account with ``is_default = 1``."""
        with self.lock:
            return next((a for a in self.whatsapp_accounts if a.is_default), None)

    def account_for_send(self, from_number: Any) -> WhatsappAccount | None:
        """send-message's choice: the exact ``phone_number`` when given, else the first account."""
        with self.lock:
            if not php_truthy(from_number):
                return self.whatsapp_accounts[0] if self.whatsapp_accounts else None
            wanted = php_str(from_number)
            return next((a for a in self.whatsapp_accounts if a.phone_number == wanted), None)

    def contact_allowance_left(self) -> bool:
        """``featureAccessLimitCheck($user->contact_limit)``."""
        with self.lock:
            return self.contact_limit is None or self.contact_limit > 0

    def use_contact_allowance(self) -> None:
        """``decrementFeature($user, 'contact_limit')``."""
        with self.lock:
            if self.contact_limit is not None:
                self.contact_limit = max(self.contact_limit - 1, 0)


def address_object(city: Any, state: Any, post_code: Any, address: Any, mobile_code: Any) -> dict[str, Any]:
    """The contact's ``address`` JSON column as ContactController::save builds it."""
    return {
        "city": "" if city is None else city,
        "state": "" if state is None else state,
        "post_code": "" if post_code is None else post_code,
        "address": "" if address is None else address,
        "country": country_for(mobile_code),
    }


Row = TypeVar("Row")


def _find_by_id(table: dict[int, Row], value: Any) -> Row | None:
    """``WHERE id = ?``: equal as numbers (``"7abc"`` finds 7, ``"7.5"`` nothing), so one dict lookup."""
    number = mysql_number(value)
    return table.get(int(number)) if number.is_integer() else None


class _NewestFirst(Sequence[Contact]):
    """A read-only, newest-first view of the contacts table (in id order) for the paginator."""

    def __init__(self, contacts: dict[int, Contact]) -> None:
        self._contacts = contacts

    def __len__(self) -> int:
        return len(self._contacts)

    def __iter__(self) -> Iterator[Contact]:
        return reversed(self._contacts.values())

    def __reversed__(self) -> Iterator[Contact]:
        return iter(self._contacts.values())

    @overload
    def __getitem__(self, index: int) -> Contact: ...

    @overload
    def __getitem__(self, index: slice) -> list[Contact]: ...

    def __getitem__(self, index: int | slice) -> Contact | list[Contact]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self._contacts))
            if step != 1:
                return list(self)[index]
            return list(itertools.islice(reversed(self._contacts.values()), start, max(start, stop)))
        position = index if index >= 0 else len(self._contacts) + index
        if not 0 <= position < len(self._contacts):
            raise IndexError(index)
        return next(itertools.islice(reversed(self._contacts.values()), position, None))
