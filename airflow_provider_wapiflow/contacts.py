"""
WapiFlow contacts as rows of a table: each row validated, then planned against the existing contact.

:func:`parse_row` reads one input row into a :class:`ContactRow` (or every problem it has);
:func:`plan_row` decides what the row needs given the contact WapiFlow has for its phone: a create,
an update, nothing, or a skip. An update is a full replace on WapiFlow, so :func:`desired_fields` fills
the optional fields a row leaves unset from the contact. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.hooks.endpoints import NAME_MAX_LENGTH
from airflow_provider_wapiflow.models import Phone
from airflow_provider_wapiflow.recipients import Ref

NAME_FIELDS = ("firstname", "lastname")
PHONE_FIELDS = ("phone", "mobile_code", "mobile")
OPTIONAL_FIELDS = ("city", "state", "post_code", "address")
ALLOWED_KEYS = (*NAME_FIELDS, *PHONE_FIELDS, *OPTIONAL_FIELDS, "ref")

# Laravel's TrimStrings middleware trims every input on the server; trimming here too keeps the
# comparison with what WapiFlow stored exact, so padded warehouse values do not cause an update per run.
_TRIM = " \t\n\r\x0b\x0c\x00"

Key = tuple[str, str]
"""(mobile_code, mobile) as WapiFlow stores them: the contact's unique key."""


@dataclass(frozen=True)
class ContactRow:
    """
    One validated input row.

    An optional field that is ``None`` (missing or null) leaves the contact's value as it is; ``""``
    blanks it.
    """

    position: int
    """1-based position of the row in the input."""
    phone: Phone
    firstname: str
    lastname: str
    city: str | None = None
    state: str | None = None
    post_code: str | None = None
    address: str | None = None
    ref: Ref = None
    """The user's own reference of the row (e.g. a customer id), returned with its failure."""

    @property
    def key(self) -> Key:
        return (self.phone.mobile_code, self.phone.mobile)

    def describe(self) -> dict[str, Any]:
        """How the row appears in summaries: position, masked phone, and ``ref`` when set."""
        entry: dict[str, Any] = {"row": self.position, "contact": self.phone.masked}
        if self.ref is not None:
            entry["ref"] = self.ref
        return entry

    def optionals(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in OPTIONAL_FIELDS}

    @classmethod
    def parse(cls, row: Any, position: int, *, default_region: str | None = None) -> ContactRow:
        """
        Validate and normalise one input row.

        :param row: a mapping with ``firstname``, ``lastname``, ``phone`` (E.164) or ``mobile_code`` +
            ``mobile``, and optionally ``city``, ``state``, ``post_code``, ``address`` and ``ref``.
        :param position: the row's 1-based position in the input, used in error messages.
        :param default_region: an ISO country (``"ES"``) for phones written without '+'.
        :raises WapiFlowInputError: every problem of the row, each in :attr:`~WapiFlowError.messages`
            as ``row <position> of the input: <problem>`` (phones masked).
        """
        parsed = parse_row(row, position, default_region=default_region)
        if isinstance(parsed, ContactRow):
            return parsed
        lines = [f"row {position} of the input: {problem}" for problem in parsed]
        raise WapiFlowInputError("; ".join(lines), messages=lines)


def parse_row(row: Any, position: int, *, default_region: str | None = None) -> ContactRow | list[str]:
    """The parsed row (``position`` counts from 1), or every problem it has (without the ``row N:`` prefix)."""
    if not isinstance(row, Mapping):
        return [f"a contact must be a mapping of fields, got {type(row).__name__}"]
    problems = [f"unknown key {key!r} (allowed: {', '.join(ALLOWED_KEYS)})" for key in row if key not in ALLOWED_KEYS]
    names: dict[str, str] = {}
    for name in NAME_FIELDS:
        value = row.get(name)
        if value is not None and not isinstance(value, str):
            problems.append(f"{name!r} must be a string, got {type(value).__name__}")
        elif value is None or not value.strip(_TRIM):
            problems.append(f"{name!r} is required")
        elif len(value.strip(_TRIM)) > NAME_MAX_LENGTH:
            problems.append(f"{name!r} is longer than {NAME_MAX_LENGTH} characters ({len(value.strip(_TRIM))})")
        else:
            names[name] = value.strip(_TRIM)
    phone: Phone | None = None
    phone_args = {name: row.get(name) for name in PHONE_FIELDS}
    if all(value is None for value in phone_args.values()):
        problems.append("a phone is required: give 'phone' (E.164) or 'mobile_code' + 'mobile'")
    else:
        try:
            phone = Phone.parse(**phone_args, default_region=default_region)
        except WapiFlowInputError as error:
            problems.append(error.message)
    optionals: dict[str, str | None] = {}
    for name in OPTIONAL_FIELDS:
        value = row.get(name)
        # A numeric post code from a warehouse column is common; bool and float would be surprising.
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is not None and not isinstance(value, str):
            problems.append(f"{name!r} must be a string, got {type(value).__name__}")
            continue
        optionals[name] = None if value is None else value.strip(_TRIM)
    ref = row.get("ref")
    if ref is not None and not isinstance(ref, (str, int, float, bool)):
        problems.append(f"'ref' must be a JSON scalar (text, number, boolean), got {type(ref).__name__}")
    if problems or phone is None:
        return problems
    return ContactRow(
        position, phone, names["firstname"], names["lastname"],
        optionals["city"], optionals["state"], optionals["post_code"], optionals["address"], ref,
    )  # fmt: skip


@dataclass(frozen=True)
class ExistingContact:
    """The part of a WapiFlow contact the upsert compares and must send back on a full-replace update."""

    id: int
    mobile_code: str
    mobile: str
    firstname: str
    lastname: str
    city: str = ""
    state: str = ""
    post_code: str = ""
    address: str = ""

    @property
    def key(self) -> Key:
        return (self.mobile_code, self.mobile)

    def fields(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in (*NAME_FIELDS, *OPTIONAL_FIELDS)}

    @classmethod
    def from_api(cls, contact: Mapping[str, Any]) -> ExistingContact:
        # ``address`` is a JSON object column {city, state, post_code, address, country}; a contact made
        # in the web UI may have none (null), and PHP serialises an empty one as [].
        place = contact.get("address")
        if isinstance(place, str):
            try:
                place = json.loads(place)
            except ValueError:
                place = None
        place = place if isinstance(place, Mapping) else {}
        return cls(
            id=int(contact["id"]),
            mobile_code=contact_key(contact)[0],
            mobile=contact_key(contact)[1],
            firstname=_text(contact.get("firstname")),
            lastname=_text(contact.get("lastname")),
            **{name: _text(place.get(name)) for name in OPTIONAL_FIELDS},
        )


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def contact_key(contact: Mapping[str, Any]) -> Key:
    """A listed contact's (mobile_code, mobile); WapiFlow may return ``mobile`` as a JSON number."""
    return (_text(contact.get("mobile_code")).strip().lstrip("+"), _text(contact.get("mobile")).strip())


def desired_fields(row: ContactRow, existing: ExistingContact | None) -> dict[str, str | None]:
    """
    What the contact should hold after the upsert: the row's fields, and for every optional field the
    row leaves unset, the contact's current value (WapiFlow's update replaces every field).
    """
    fields: dict[str, str | None] = {"firstname": row.firstname, "lastname": row.lastname}
    for name, value in row.optionals().items():
        fields[name] = value if value is not None or existing is None else getattr(existing, name)
    return fields


Action = Literal["create", "update", "unchanged", "skip"]


@dataclass(frozen=True)
class PlannedWrite:
    """One row's decided action; ``contact`` is the existing contact for an update."""

    action: Action
    row: ContactRow
    contact: ExistingContact | None = None


def plan_row(row: ContactRow, existing: ExistingContact | None, update_existing: bool) -> PlannedWrite:
    """Decide what one row needs: create, update, nothing (equal), or skip (differs, updates off)."""
    if existing is None:
        return PlannedWrite("create", row)
    if desired_fields(row, existing) == existing.fields():
        return PlannedWrite("unchanged", row, existing)
    return PlannedWrite("update" if update_existing else "skip", row, existing)


__all__ = [
    "ALLOWED_KEYS",
    "NAME_FIELDS",
    "OPTIONAL_FIELDS",
    "PHONE_FIELDS",
    "Action",
    "ContactRow",
    "ExistingContact",
    "Key",
    "PlannedWrite",
    "contact_key",
    "desired_fields",
    "parse_row",
    "plan_row",
]
