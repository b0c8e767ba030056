"""Rendered template fields of the operators: the UI and the REST API must not show full phones and names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.models import mask_phone
from airflow_provider_wapiflow.operators._arguments import rendered_list
from airflow_provider_wapiflow.recipients import PHONE_KEYS

#: Keys of a recipient or contact row shown as they are in the Rendered Template view.
_SHOWN_KEYS = frozenset({"city", "state", "ref", "input_position", "duplicates_dropped"})
_PHONE_KEYS = frozenset(PHONE_KEYS)
#: Rows shown in the Rendered Template view; the operator still reads all of them.
_RENDERED_ROWS = 100


def _mask_text(value: Any) -> Any:
    """A personal value reduced to its first character (``"Ana"`` → ``"A…"``); numbers and None as ``"…"``."""
    if value is None:
        return None
    text = str(value)
    return f"{text[:1]}…" if isinstance(value, str) and text else "…"


def masked_item(item: Any) -> Any:
    """One recipient or contact row as the UI may show it: phones masked, names and variables cut."""
    if isinstance(item, Mapping):
        shown: dict[str, Any] = {}
        for key, value in item.items():
            if key in _PHONE_KEYS:
                shown[str(key)] = None if value is None else mask_phone(str(value))
            elif key in _SHOWN_KEYS:
                shown[str(key)] = value
            elif isinstance(value, (list, tuple)):
                shown[str(key)] = [_mask_text(v) for v in value]
            else:
                shown[str(key)] = _mask_text(value)
        return shown
    if isinstance(item, (str, int)) and not isinstance(item, bool):
        return mask_phone(str(item))
    return f"<{type(item).__name__}>"


class PersonalRows(Sequence[Any]):
    """
    The rendered recipients or contact rows, as the operator reads them, that Airflow stores masked.

    Airflow stores a task's rendered template fields (the UI's Rendered Template tab, the REST API's
    ``rendered_fields``) with :meth:`serialize` when a value has one: there it gets the masked copy, while
    ``execute`` iterates the real rows. Not a ``list`` on purpose: Airflow would walk a list item by item.
    """

    def __init__(self, rows: Sequence[Any]) -> None:
        self._rows = rows

    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def serialize(self) -> list[Any]:
        # Airflow cuts a rendered field to [core] max_templated_field_length (4096) characters anyway.
        shown = [masked_item(row) for row in self._rows[:_RENDERED_ROWS]]
        hidden = len(self._rows) - _RENDERED_ROWS
        return [*shown, f"… and {hidden} more"] if hidden > 0 else shown

    def __repr__(self) -> str:
        return f"PersonalRows({self.serialize()!r})"


class MaskedRenderedFields:
    """
    Operator mixin: after rendering, the fields in ``personal_fields`` hold :class:`PersonalRows`.

    ``_do_render_template_fields`` is the one method both a plain and a mapped (``expand``) task run.
    A field that rendered to text (a DAG without ``render_template_as_native_obj``) is read as the list
    it spells first, as ``execute`` would; text that is no list is left for ``execute`` to refuse.
    """

    personal_fields: tuple[str, ...] = ()

    def _do_render_template_fields(
        self, parent: Any, template_fields: Any, context: Any, jinja_env: Any, seen_oids: set[int]
    ) -> None:
        super()._do_render_template_fields(parent, template_fields, context, jinja_env, seen_oids)  # type: ignore[misc]
        if parent is not self:
            return
        for name in self.personal_fields:
            value = getattr(self, name, None)
            if isinstance(value, str):
                try:
                    value = rendered_list(value, name)
                except WapiFlowInputError:
                    continue
            if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping, PersonalRows)):
                setattr(self, name, PersonalRows(list(value)))
