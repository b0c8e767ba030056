"""Recipients of a bulk send: parsed, validated and de-duplicated before anything is sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.models import Phone

PHONE_KEYS = ("phone", "mobile_code", "mobile")
CONTACT_KEYS = ("firstname", "lastname", "city", "state", "post_code", "address")
VARIABLE_KEYS = ("body_variables", "header_variables")
#: Keys :func:`airflow_provider_wapiflow.batching.batch_recipients` and users add to a recipient dict.
RESERVED_KEYS = ("input_position", "duplicates_dropped", "ref")


@dataclass(frozen=True)
class Recipient:
    """One recipient: its position in the input, its phone and what is personal to it."""

    position: int
    phone: Phone
    body_variables: tuple[str, ...] | None = None
    header_variables: tuple[str, ...] | None = None
    message: str | None = None
    contact: Mapping[str, str] = field(default_factory=dict)
    input_position: int | None = None
    duplicates_dropped: int = 0
    ref: Any = None

    @property
    def digest(self) -> str:
        """A stable key for the delivery ledger that does not store the number itself."""
        return self.phone.key

    @property
    def can_create_contact(self) -> bool:
        return bool(self.contact.get("firstname") and self.contact.get("lastname"))

    def describe(self) -> dict[str, Any]:
        """How the recipient appears in logs and XComs: position and masked phone."""
        described: dict[str, Any] = {"position": self.input_position or self.position, "recipient": self.phone.masked}
        if self.ref is not None:
            described["ref"] = self.ref
        return described


@dataclass(frozen=True)
class InvalidRecipient:
    position: int
    reason: str
    input_position: int | None = None

    def describe(self) -> dict[str, Any]:
        return {"position": self.input_position or self.position, "recipient": None, "error": self.reason}


@dataclass
class ParsedRecipients:
    valid: list[Recipient]
    invalid: list[InvalidRecipient]
    duplicates: list[tuple[int, int]]
    """(position, position of the first occurrence) for each repeated phone, which is sent once."""


def _variables(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise WapiFlowInputError(f"'{name}' must be a list of values, got {type(value).__name__}")
    for index, item in enumerate(value, start=1):
        if item is None or isinstance(item, (dict, list, tuple, set)):
            raise WapiFlowInputError(f"'{name}' value {{{{{index}}}}} must be text, got {item!r}")
    return tuple(str(item) for item in value)


def _parse_one(item: Any, position: int, extra_keys: tuple[str, ...]) -> Recipient:
    if isinstance(item, str):
        return Recipient(position=position, phone=Phone.parse(phone=item))
    if not isinstance(item, Mapping):
        raise WapiFlowInputError(
            f"must be an E.164 string or a dict with 'phone' or 'mobile_code' + 'mobile', got {type(item).__name__}"
        )
    allowed = (*PHONE_KEYS, *VARIABLE_KEYS, *CONTACT_KEYS, *RESERVED_KEYS, *extra_keys)
    unknown = sorted(str(key) for key in item if key not in allowed)
    if unknown:
        raise WapiFlowInputError(f"unknown key {', '.join(map(repr, unknown))} (allowed: {', '.join(allowed)})")
    phone = Phone.parse(item.get("phone"), item.get("mobile_code"), item.get("mobile"))
    contact: dict[str, str] = {}
    for key in CONTACT_KEYS:
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise WapiFlowInputError(f"'{key}' must be a string, got {type(value).__name__}")
        contact[key] = value
    message = item.get("message")
    if message is not None and not isinstance(message, str):
        raise WapiFlowInputError(f"'message' must be a string, got {type(message).__name__}")
    return Recipient(
        position=position,
        phone=phone,
        body_variables=_variables(item.get("body_variables"), "body_variables"),
        header_variables=_variables(item.get("header_variables"), "header_variables"),
        message=message,
        contact=contact,
        input_position=item.get("input_position"),
        duplicates_dropped=int(item.get("duplicates_dropped") or 0),
        ref=item.get("ref"),
    )


def parse_recipients(items: Any, *, extra_keys: tuple[str, ...] = ()) -> ParsedRecipients:
    """
    Parse every item; collect all problems instead of stopping at the first.

    :raises WapiFlowInputError: ``items`` is not a non-empty list.
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise WapiFlowInputError(
            f"'recipients' must be a list of phones or recipient dicts, got {type(items).__name__}"
        )
    items = list(items)
    if not items:
        raise WapiFlowInputError("'recipients' is empty: nothing to send")
    valid: list[Recipient] = []
    invalid: list[InvalidRecipient] = []
    duplicates: list[tuple[int, int]] = []
    first_seen: dict[Phone, int] = {}
    for position, item in enumerate(items):
        try:
            recipient = _parse_one(item, position, extra_keys)
        except WapiFlowInputError as error:
            given = item.get("input_position") if isinstance(item, Mapping) else None
            invalid.append(InvalidRecipient(position, str(error), given if isinstance(given, int) else None))
            continue
        if recipient.phone in first_seen:
            duplicates.append((position, first_seen[recipient.phone]))
            continue
        first_seen[recipient.phone] = position
        valid.append(recipient)
    return ParsedRecipients(valid=valid, invalid=invalid, duplicates=duplicates)


def format_problems(problems: Sequence[InvalidRecipient], total: int, limit: int = 20) -> str:
    """One line per invalid recipient, capped, for an error message."""
    lines = [f"  recipient {p.position}: {p.reason}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  … and {len(problems) - limit} more")
    return f"{len(problems)} of {total} recipients are invalid:\n" + "\n".join(lines)
