"""
Template variables: the one check every path that sends a template runs before any request.

The hook's request builder, the send operators (per recipient and operator-wide) and the notifier call
:func:`check_variables`, so a value the customer must not read ("tu pedido nan ha sido enviado") or one
Meta refuses (#132018) never leaves the worker.

What becomes of each value:

- ``str``: sent as it is, unless empty (or only spaces), or it holds a newline, a carriage return, a tab
  or more than four consecutive spaces: Meta refuses those (error #132018).
- ``int`` (and numpy integers): their decimal text, ``42`` → ``"42"``.
- a finite ``float`` (and numpy floats): an integral value without its ``.0`` (``12.0`` → ``"12"``: a
  pandas integer column with a gap becomes float, and an order number must not read ``1234.0``);
  any other value as Python's shortest round-trip text (``12.5`` → ``"12.5"``, ``0.1`` → ``"0.1"``).
- ``decimal.Decimal``: its fixed-point text, digits kept (``Decimal("12.50")`` → ``"12.50"``).
- refused: ``None``, NaN (float, numpy, ``decimal``), pandas ``NA`` / ``NaT``, ``±inf``, booleans,
  bytes and every other type (dates, lists, dicts…): format them to the text the customer should read.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
from collections.abc import Iterable, Mapping, Set
from decimal import Decimal
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError

FIELDS = ("body_variables", "header_variables")

_SPACES = re.compile(r" {5,}")
_META_RULE = "Meta refuses newlines, tabs and more than 4 consecutive spaces in a template variable (#132018)"


def _pandas_missing(value: Any) -> str | None:
    """``"NA"`` / ``"NaT"`` for pandas' missing markers; pandas is only looked at if already imported."""
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return None
    if value is getattr(pandas, "NA", object()):
        return "pandas.NA"
    if value is getattr(pandas, "NaT", object()):
        return "pandas.NaT"
    return None


def _number_text(value: Any) -> str:
    """The text of a finite number (see the module docstring); ValueError for NaN and infinities."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("NaN" if value.is_nan() else "infinite")
        return format(value, "f")
    if isinstance(value, numbers.Integral):
        return str(int(value))
    number = float(value)
    if math.isnan(number):
        raise ValueError("NaN")
    if math.isinf(number):
        raise ValueError("infinite")
    return str(int(number)) if number.is_integer() else repr(number)


def _problem(value: Any) -> tuple[str | None, str]:
    """(the reason a value is refused or None, the text it is sent as)."""
    if value is None:
        return "is missing (None)", ""
    missing = _pandas_missing(value)
    if missing is not None:
        return f"is missing ({missing}, an empty cell)", ""
    # numpy's booleans are no ``bool`` subclass: ``numpy.bool_`` (``numpy.bool`` in numpy 2)
    if isinstance(value, bool) or type(value).__name__ in ("bool_", "bool"):
        return f"is a boolean ({value!r}): give the text the customer should read", ""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "is bytes: decode it to text first", ""
    if isinstance(value, str):
        if not value.strip():
            return "is empty" if not value else "is only spaces", ""
        if "\n" in value or "\r" in value:
            return f"contains a line break: {_META_RULE}", ""
        if "\t" in value:
            return f"contains a tab: {_META_RULE}", ""
        if _SPACES.search(value):
            return f"contains more than 4 consecutive spaces: {_META_RULE}", ""
        return None, str(value)
    if isinstance(value, (numbers.Real, Decimal)):
        try:
            return None, _number_text(value)
        except ValueError as error:
            if str(error) == "NaN":
                return "is NaN (a missing value, e.g. an empty cell of a pandas column)", ""
            return f"is infinite ({'-' if value < 0 else '+'}inf)", ""
    return f"must be text or a number, got {type(value).__name__}", ""


def check_variables(values: Any, field: str) -> tuple[str, ...] | None:
    """
    Check a template's ``body_variables`` or ``header_variables`` and return the texts to send.

    :param values: a list (or any ordered iterable, e.g. a pandas Series) of values; None: not given.
    :param field: ``"body_variables"`` or ``"header_variables"``: named in the error.
    :raises WapiFlowInputError: naming the field and the variable's 1-based position (``{{2}}``)
        and the reason; the value itself is not repeated (it may be personal data).
    """
    if values is None:
        return None
    if isinstance(values, (str, bytes, bytearray, Mapping, Set)) or not isinstance(values, Iterable):
        raise WapiFlowInputError(f"'{field}' must be a list of values, got {type(values).__name__}")
    texts: list[str] = []
    for position, value in enumerate(values, start=1):
        reason, text = _problem(value)
        if reason is not None:
            raise WapiFlowInputError(f"'{field}' {{{{{position}}}}} {reason}")
        texts.append(text)
    return tuple(texts)


__all__ = ["FIELDS", "check_variables"]
