"""
Split recipients into batches for a mapped send, so that every phone lands in exactly one batch.

Each mapped instance keeps its own delivery ledger: a phone repeated in two batches would be messaged
once per batch. :func:`batch_recipients` keeps the first occurrence of each phone, drops the others
(and counts them on the kept entry), and records every entry's position in the whole input so that
the send summary points at the input row, not at the row of the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.models import Phone

__all__ = ["batch_recipients"]

RESERVED_KEYS = ("input_position", "duplicates_dropped")


def _phone_of(entry: Mapping[str, Any]) -> Phone | None:
    try:
        return Phone.parse(entry.get("phone"), entry.get("mobile_code"), entry.get("mobile"))
    except (WapiFlowInputError, TypeError, ValueError):
        return None


def batch_recipients(recipients: Iterable[Any], size: int) -> list[list[dict[str, Any]]]:
    """
    Split ``recipients`` into batches of at most ``size`` entries, each phone in exactly one batch.

    Deterministic: the same input gives the same batches (so a retried upstream task does not move
    a phone to another mapped instance). Phones are compared after normalisation (``"+34 600 111 222"``
    and ``{"mobile_code": "34", "mobile": "600111222"}`` are one phone); the first occurrence is kept.
    Entries whose phone does not parse are kept as they are, so the send operator reports them with
    their position.

    :param recipients: E.164 strings or recipient dicts, as the send operators take them.
    :param size: the most entries in one batch (a positive integer).
    :return: a list of batches; every entry is a dict (a string becomes ``{"phone": ...}``) with the
        reserved keys ``input_position`` (1-based position in the whole input) and
        ``duplicates_dropped`` (later entries with the same phone dropped in its favour).
    :raises WapiFlowInputError: ``recipients`` is not a list, or ``size`` is not a positive integer.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise WapiFlowInputError(f"'size' must be a positive integer, got {size!r}")
    if isinstance(recipients, (str, bytes, Mapping)) or not isinstance(recipients, Iterable):
        raise WapiFlowInputError(
            f"'recipients' must be a list of phones or recipient dicts, got {type(recipients).__name__}"
        )
    kept: list[dict[str, Any]] = []
    first: dict[Phone, dict[str, Any]] = {}
    for position, item in enumerate(recipients, start=1):
        entry = dict(item) if isinstance(item, Mapping) else {"phone": item}
        entry["input_position"] = position
        entry["duplicates_dropped"] = 0
        phone = _phone_of(entry)
        if phone is not None and phone in first:
            first[phone]["duplicates_dropped"] += 1
            continue
        if phone is not None:
            first[phone] = entry
        kept.append(entry)
    return [kept[start : start + size] for start in range(0, len(kept), size)]
