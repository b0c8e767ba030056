"""
Choosing a template by id or by name, never by guess (shared by both hooks).

* an ``int`` is a template id; so is the string form ``"id:7"``;
* any other string is a template **name**, digits included: ``"2"`` is the template named ``2``,
  never the template whose id is 2 (the error says how to pick that one);
* several templates with the name (one per language, or per WhatsApp account): the one that is
  approved; with several approved, ``language`` must narrow them to one, else the choice is refused
  with the candidates listed.
"""

from __future__ import annotations

import difflib
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError, WapiFlowTemplateNotFoundError
from airflow_provider_wapiflow.models import TemplateStatus

_ID_PREFIX = "id:"
_LANGUAGE_CODE_KEYS = ("language", "language_code", "lang", "locale")
_LISTED = 20

__all__ = ["TemplateChoice", "WapiFlowTemplateNotFoundError", "describe"]


def _status_name(template: dict[str, Any]) -> str:
    try:
        return TemplateStatus(int(template.get("status", -1))).name.lower()
    except (TypeError, ValueError):
        return f"status {template.get('status')!r}"


def _approved(template: dict[str, Any]) -> bool:
    try:
        return int(template.get("status", -1)) == TemplateStatus.APPROVED
    except (TypeError, ValueError):
        return False


def _language_code(template: dict[str, Any]) -> str | None:
    for key in _LANGUAGE_CODE_KEYS:
        value = template.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):  # a loaded relation, e.g. {"id": 1, "code": "es"}
            code = value.get("code")
            if isinstance(code, str) and code:
                return code
    return None


def describe(template: dict[str, Any]) -> str:
    """``'order_shipped' (id 4, language_id 1, approved)`` for error messages."""
    parts = [f"id {template.get('id')}", f"language_id {template.get('language_id')}"]
    code = _language_code(template)
    if code:
        parts.append(f"language {code!r}")
    parts.append(_status_name(template))
    return f"{template.get('name')!r} ({', '.join(parts)})"


class TemplateChoice:
    """
    Feed the templates page by page with :meth:`offer` (True: stop reading), then call :meth:`result`.

    An id stops at its template; a name reads the whole list, because a second template with the same
    name has to be ruled out.
    """

    def __init__(self, template: int | str, language: int | str | None = None) -> None:
        self.wanted_id: int | None = None
        self.wanted_name: str | None = None
        if isinstance(template, bool):
            raise WapiFlowInputError(f"'template' must be a template id (int) or name (str), got {template!r}")
        if isinstance(template, int):
            if template < 1:
                raise WapiFlowInputError(f"'template' id must be a positive integer, got {template!r}")
            self.wanted_id = template
        elif isinstance(template, str) and template.strip():
            text = template.strip()
            if text.lower().startswith(_ID_PREFIX):
                number = text[len(_ID_PREFIX) :].strip()
                if not number.isdigit() or int(number) < 1:
                    raise WapiFlowInputError(f"'template' {template!r}: after 'id:' comes a template id, e.g. 'id:7'")
                self.wanted_id = int(number)
            else:
                self.wanted_name = text
        else:
            raise WapiFlowInputError(f"'template' must be a template id (int) or name (str), got {template!r}")
        self.template = template
        self.language_id: int | None = None
        self.language_code: str | None = None
        if language is not None:
            if isinstance(language, bool):
                raise WapiFlowInputError(f"'language' must be a language id or code, got {language!r}")
            if isinstance(language, int) or (isinstance(language, str) and language.strip().isdigit()):
                self.language_id = int(language)
            elif isinstance(language, str) and language.strip():
                self.language_code = language.strip()
            else:
                raise WapiFlowInputError(f"'language' must be a language id or code, got {language!r}")
        self.language = language
        self._seen: list[dict[str, Any]] = []
        self._by_id: dict[str, Any] | None = None

    def offer(self, items: list[dict[str, Any]]) -> bool:
        for item in items:
            self._seen.append(item)
            if self.wanted_id is not None and _same_id(item.get("id"), self.wanted_id):
                self._by_id = item
                return True
        return False

    def result(self) -> dict[str, Any]:
        if self.wanted_id is not None:
            return self._result_by_id()
        return self._result_by_name()

    def _result_by_id(self) -> dict[str, Any]:
        if self._by_id is None:
            raise WapiFlowTemplateNotFoundError(
                f"WapiFlow has no template with id {self.wanted_id} in this account. {self._approved_list()}",
                remark="not_found",
            )
        if self.language is not None and not self._in_language(self._by_id):
            raise WapiFlowInputError(
                f"template id {self.wanted_id} is {describe(self._by_id)}, not in language {self.language!r}"
            )
        return self._by_id

    def _result_by_name(self) -> dict[str, Any]:
        name = self.wanted_name
        named = [t for t in self._seen if t.get("name") == name]
        if not named:
            raise WapiFlowTemplateNotFoundError(self._unknown_name_message(), remark="not_found")
        candidates = [t for t in named if self._in_language(t)] if self.language is not None else named
        if not candidates:
            raise WapiFlowInputError(
                f"template {name!r} exists, but not in language {self.language!r}{self._code_note(named)}: "
                + "; ".join(describe(t) for t in named)
            )
        if len(candidates) == 1:
            return candidates[0]
        approved = [t for t in candidates if _approved(t)]
        if len(approved) == 1:
            return approved[0]  # the others cannot be sent: the only template this send can mean
        how = (
            "pass language= (a language_id, or a language code where templates carry one) or the id "
            "(template=<int> or 'id:<n>')"
        )
        which = "are approved" if approved else "match and none is approved"
        raise WapiFlowInputError(
            f"template {name!r} is ambiguous: {len(approved or candidates)} templates with that name {which}"
            f"{' in language ' + repr(self.language) if self.language is not None else ''}: "
            + "; ".join(describe(t) for t in (approved or candidates))
            + f". Choose one: {how}."
        )

    def _in_language(self, template: dict[str, Any]) -> bool:
        if self.language_id is not None:
            return _same_id(template.get("language_id"), self.language_id)
        code = _language_code(template)
        return code is not None and code.lower().replace("-", "_") == str(self.language_code).lower().replace("-", "_")

    def _code_note(self, named: list[dict[str, Any]]) -> str:
        if self.language_code is not None and not any(_language_code(t) for t in named):
            return " (these templates carry only a language_id: pass language=<language_id>)"
        return ""

    def _approved_list(self) -> str:
        approved = sorted({str(t.get("name")) for t in self._seen if _approved(t)})
        if not approved:
            return "The account has no approved template."
        shown = ", ".join(repr(n) for n in approved[:_LISTED])
        more = f" and {len(approved) - _LISTED} more" if len(approved) > _LISTED else ""
        return f"Approved templates: {shown}{more}."

    def _unknown_name_message(self) -> str:
        name = str(self.wanted_name)
        names = sorted({str(t.get("name")) for t in self._seen if t.get("name") is not None})
        approved_names = sorted({str(t.get("name")) for t in self._seen if _approved(t)})
        close = difflib.get_close_matches(name, approved_names, n=1, cutoff=0.5) or difflib.get_close_matches(
            name, names, n=1, cutoff=0.5
        )
        text = f"WapiFlow has no template {name!r} in this account."
        if close:
            text += f" Did you mean {close[0]!r}?"
        if name.isdigit():
            by_id = next((t for t in self._seen if _same_id(t.get("id"), int(name))), None)
            if by_id is not None:
                text += (
                    f" A string is a template name; template id {name} is {describe(by_id)}: pass "
                    f"template={name} (an int) or 'id:{name}' to choose it by id."
                )
        return f"{text} {self._approved_list()}"


def _same_id(value: Any, wanted: int) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == wanted
    return isinstance(value, str) and value.strip().isdigit() and int(value) == wanted
