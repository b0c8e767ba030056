"""
Recipients of a send: parsed, validated and de-duplicated before anything is sent.

The send operators and the notifier read their ``recipients`` with :func:`parse_recipients`: every
problem is collected with the recipient's 1-based position and masked phone, and a phone given twice
is sent once. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.models import Phone, check_region, mask_phone
from airflow_provider_wapiflow.variables import check_variables

PHONE_KEYS = ("phone", "mobile_code", "mobile")
CONTACT_KEYS = ("firstname", "lastname", "city", "state", "post_code", "address")
VARIABLE_KEYS = ("body_variables", "header_variables")
RESERVED_KEYS = ("ref", "input_position", "duplicates_dropped")
"""``ref``: the user's own reference; the other two are set by the batching helper (``batch_recipients``)."""

#: Repeated phones named one by one in the warning; the count stays exact.
_LISTED_DUPLICATES = 20

Ref = str | int | float | bool | None


@dataclass(frozen=True)
class Recipient:
    """
    One recipient: its position in the input, its phone and what is personal to it.

    ``position`` counts from 1: the ``input_position`` the batching helper set (the position in the
    whole input), else the position in the list the operator got.
    """

    position: int
    phone: Phone
    body_variables: tuple[str, ...] | None = None
    header_variables: tuple[str, ...] | None = None
    message: str | None = None
    contact: Mapping[str, str] = field(default_factory=dict)
    ref: Ref = None
    input_position: int | None = None
    duplicates_dropped: int = 0

    @property
    def digest(self) -> str:
        """A stable key for the delivery ledger that does not store the number itself."""
        return self.phone.key

    @property
    def can_create_contact(self) -> bool:
        return bool(self.contact.get("firstname") and self.contact.get("lastname"))

    def describe(self) -> dict[str, Any]:
        """How the recipient appears in logs and XComs: 1-based position, masked phone, and ``ref`` when set."""
        entry: dict[str, Any] = {"position": self.position, "recipient": self.phone.masked}
        if self.ref is not None:
            entry["ref"] = self.ref
        return entry

    def invalid(self, reason: str) -> InvalidRecipient:
        """This recipient refused for ``reason`` (e.g. its variables do not fit the template)."""
        return InvalidRecipient(self.position, reason, self.phone.masked, self.ref)


@dataclass(frozen=True)
class InvalidRecipient:
    """A recipient refused before any request: where it is, what it looked like (masked) and why."""

    position: int
    reason: str
    recipient: str = "(no phone)"
    """The phone as given, masked; never None so a summary entry always shows what was refused."""
    ref: Ref = None

    def describe(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"position": self.position, "recipient": self.recipient, "error": self.reason}
        if self.ref is not None:
            entry["ref"] = self.ref
        return entry


@dataclass
class ParsedRecipients:
    valid: list[Recipient]
    invalid: list[InvalidRecipient]
    duplicates: list[tuple[int, int]]
    """(position, position of the first occurrence) for each repeated phone, which is sent once."""
    repeated: list[tuple[int, int, str]] = field(default_factory=list)
    """(position, first position, masked phone) of each repeated phone: what the warning names."""

    def duplicates_warning(self) -> str | None:
        """The warning naming the repeated recipients (positions, masked phones), or None without any."""
        if not self.repeated:
            return None
        listed = "; ".join(
            f"recipient {position} repeats {masked} of recipient {first}"
            for position, first, masked in self.repeated[:_LISTED_DUPLICATES]
        )
        hidden = len(self.repeated) - _LISTED_DUPLICATES
        more = f"; … and {hidden} more" if hidden > 0 else ""
        return (
            f"{len(self.repeated)} recipients repeat an earlier phone and are not sent again "
            f"(the first occurrence wins): {listed}{more}"
        )


def _ref(value: Any) -> Ref:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise WapiFlowInputError(f"'ref' must be a JSON scalar (text, number, boolean), got {type(value).__name__}")


def _count(item: Mapping[str, Any], key: str, minimum: int) -> int | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise WapiFlowInputError(f"'{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def masked_input(item: Any) -> str:
    """What a recipient or row gave as its phone, masked: shown for invalid input instead of nothing."""
    if isinstance(item, Mapping):
        phone, code, mobile = item.get("phone"), item.get("mobile_code"), item.get("mobile")
        if phone is not None:
            return mask_phone(str(phone).strip())
        if code is not None or mobile is not None:
            return mask_phone(f"+{'' if code is None else str(code).strip()}{'' if mobile is None else mobile}")
        return "(no phone)"
    if isinstance(item, (str, int)) and not isinstance(item, bool):
        return mask_phone(str(item).strip())
    return f"(a {type(item).__name__})"


def _parse_one(item: Any, position: int, extra_keys: tuple[str, ...], region: str | None) -> Recipient:
    if isinstance(item, str) or (isinstance(item, int) and not isinstance(item, bool)):
        return Recipient(position=position, phone=Phone.parse(phone=item, default_region=region))
    if not isinstance(item, Mapping):
        raise WapiFlowInputError(
            f"must be an E.164 string or a dict with 'phone' or 'mobile_code' + 'mobile', got {type(item).__name__}"
        )
    allowed = (*PHONE_KEYS, *VARIABLE_KEYS, *CONTACT_KEYS, *extra_keys, "ref")
    unknown = sorted(str(key) for key in item if key not in allowed and key not in RESERVED_KEYS)
    if unknown:
        raise WapiFlowInputError(f"unknown key {', '.join(map(repr, unknown))} (allowed: {', '.join(allowed)})")
    phone = Phone.parse(item.get("phone"), item.get("mobile_code"), item.get("mobile"), default_region=region)
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
        body_variables=check_variables(item.get("body_variables"), "body_variables"),
        header_variables=check_variables(item.get("header_variables"), "header_variables"),
        message=message,
        contact=contact,
        ref=_ref(item.get("ref")),
        input_position=_count(item, "input_position", 1),
        duplicates_dropped=_count(item, "duplicates_dropped", 0) or 0,
    )


def _position(item: Any, index: int) -> int:
    """The 1-based position to report: the batching helper's ``input_position`` when it is usable."""
    if isinstance(item, Mapping):
        given = item.get("input_position")
        if isinstance(given, int) and not isinstance(given, bool) and given >= 1:
            return given
    return index


def parse_recipients(
    items: Any, *, extra_keys: tuple[str, ...] = (), default_region: str | None = None
) -> ParsedRecipients:
    """
    Parse every item; collect all problems instead of stopping at the first.

    :param default_region: an ISO country (``"ES"``) for phones written without '+'.
    :raises WapiFlowInputError: ``items`` is not a non-empty list, or ``default_region`` is not a country.
    """
    region = check_region(default_region)
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise WapiFlowInputError(
            f"'recipients' must be a list of phones or recipient dicts, got {type(items).__name__}"
        )
    items = list(items)
    if not items:
        raise WapiFlowInputError("'recipients' is empty: nothing to send")
    valid: list[Recipient] = []
    invalid: list[InvalidRecipient] = []
    repeated: list[tuple[int, int, str]] = []
    first_seen: dict[Phone, int] = {}
    for index, item in enumerate(items, start=1):
        position = _position(item, index)
        try:
            recipient = _parse_one(item, position, extra_keys, region)
        except WapiFlowInputError as error:
            ref = item.get("ref") if isinstance(item, Mapping) else None
            scalar = ref if ref is None or isinstance(ref, (str, int, float, bool)) else None
            invalid.append(InvalidRecipient(position, str(error), masked_input(item), scalar))
            continue
        if recipient.phone in first_seen:
            repeated.append((position, first_seen[recipient.phone], recipient.phone.masked))
            continue
        first_seen[recipient.phone] = position
        valid.append(recipient)
    return ParsedRecipients(
        valid=valid, invalid=invalid, duplicates=[(p, f) for p, f, _ in repeated], repeated=repeated
    )


def _where(problem: InvalidRecipient) -> str:
    ref = f" (ref {problem.ref!r})" if problem.ref is not None else ""
    return f"recipient {problem.position} of the input{ref}"


def format_problems(problems: Sequence[InvalidRecipient], total: int, limit: int = 20) -> str:
    """One line per invalid recipient (1-based positions), capped, for an error message."""
    lines = [f"  {_where(p)}: {p.reason}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  … and {len(problems) - limit} more")
    return f"{len(problems)} of {total} recipients are invalid:\n" + "\n".join(lines)


__all__ = [
    "CONTACT_KEYS",
    "PHONE_KEYS",
    "RESERVED_KEYS",
    "VARIABLE_KEYS",
    "InvalidRecipient",
    "ParsedRecipients",
    "Recipient",
    "Ref",
    "format_problems",
    "masked_input",
    "parse_recipients",
]
