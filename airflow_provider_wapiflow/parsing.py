"""
Operator and trigger arguments read into typed values: ids, conversation statuses and times.

Each parser accepts what a DAG author writes and what a Jinja template renders to (text), and raises
:class:`~airflow_provider_wapiflow.exceptions.WapiFlowInputError` naming the field. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.models import ConversationStatus

_JINJA_MARKERS = ("{{", "{%", "{#")


def is_templated(value: Any) -> bool:
    """
    Whether ``value`` is only known once the task runs: a Jinja string or an XComArg.

    Such values are checked at execute, after rendering, instead of at DAG parse time.
    """
    if isinstance(value, str):
        return any(marker in value for marker in _JINJA_MARKERS)
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(is_templated(item) for item in value)
    from airflow.sdk import XComArg

    return isinstance(value, XComArg)


def parse_conversation_id(value: Any, field: str = "conversation_id") -> int:
    """Return ``value`` as a conversation id: a positive int, or a string of digits (a rendered template)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WapiFlowInputError(f"'{field}' must be a positive integer conversation id, got {value!r}")
    return value


def parse_status(value: Any, field: str = "status") -> ConversationStatus:
    """
    Return ``value`` as a :class:`ConversationStatus`.

    Accepts a member, its int value, its name in any case (``"done"``) or a string of digits.
    """
    if isinstance(value, ConversationStatus):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            value = int(text)
        elif text.upper() in ConversationStatus.__members__:
            return ConversationStatus[text.upper()]
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return ConversationStatus(value)
        except ValueError:
            pass
    names = ", ".join(f"{s.name} ({s.value})" for s in ConversationStatus)
    raise WapiFlowInputError(f"'{field}' must be a ConversationStatus: one of {names}; got {value!r}")


def parse_settable_status(value: Any, field: str = "status") -> ConversationStatus:
    """Like :func:`parse_status`, but refuse ``UNREAD``, which WapiFlow's API cannot set."""
    status = parse_status(value, field)
    if status is ConversationStatus.UNREAD:
        raise WapiFlowInputError(
            f"'{field}' UNREAD (4) cannot be set: WapiFlow's API accepts only NONE (0), DONE (1), "
            "PENDING (2) and IMPORTANT (3). UNREAD is WapiFlow's own marker for unseen messages."
        )
    return status


def parse_statuses(value: Any, field: str = "statuses") -> frozenset[ConversationStatus] | None:
    """
    Return the set of statuses to wait for, or None for "any status".

    Accepts one status or a list of them (see :func:`parse_status`); a rendered template may also
    give a JSON list (``"[1, 2]"``) or a comma-separated string (``"DONE,PENDING"``).
    """
    if value is None:
        return None
    items: Iterable[Any]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise WapiFlowInputError(f"'{field}' {value!r} is not a JSON list of statuses") from None
            if not isinstance(items, list):
                raise WapiFlowInputError(f"'{field}' {value!r} is not a JSON list of statuses")
        else:
            items = [part for part in text.split(",") if part.strip()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        items = [value]
    statuses = frozenset(parse_status(item, field) for item in items)
    if not statuses:
        raise WapiFlowInputError(f"'{field}' is empty: give at least one status, or None for any status")
    return statuses


def parse_datetime(value: Any, field: str) -> datetime:
    """
    Return ``value`` as an aware UTC datetime.

    Accepts a datetime (naive means UTC), a pendulum DateTime, or an ISO 8601 string such as
    ``"2026-11-25T14:53:37Z"``, ``"2026-11-25T14:53:37.123+01:00"`` or ``"2026-11-25 14:53:37"``.
    """
    if isinstance(value, str):
        text = value.strip()
        parsed: datetime | None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = _parse_with_pendulum(text)
        if parsed is None:
            raise WapiFlowInputError(
                f"'{field}' must be a datetime or an ISO 8601 string such as '2026-11-25T14:53:37Z', got {value!r}"
            )
        value = parsed
    if not isinstance(value, datetime):
        raise WapiFlowInputError(
            f"'{field}' must be a datetime or an ISO 8601 string, got {type(value).__name__} {value!r}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=timezone.utc)
    utc = value.astimezone(timezone.utc)
    # A plain datetime, whatever came in (pendulum's DateTime formats and compares its own way).
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=timezone.utc
    )


def _parse_with_pendulum(text: str) -> datetime | None:
    import pendulum

    try:
        parsed = pendulum.parse(text)
    except (ValueError, TypeError, pendulum.parsing.exceptions.ParserError):
        return None
    return parsed if isinstance(parsed, datetime) else None


def to_second(moment: datetime) -> datetime:
    """Cut a UTC datetime to whole seconds, the precision WapiFlow stores its times in."""
    return moment.astimezone(timezone.utc).replace(microsecond=0)


def iso_utc(moment: datetime) -> str:
    """Format a datetime as ``2026-11-25T14:53:37.250000Z`` (UTC, microseconds kept)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = [
    "is_templated",
    "iso_utc",
    "parse_conversation_id",
    "parse_datetime",
    "parse_settable_status",
    "parse_status",
    "parse_statuses",
    "to_second",
]
