"""The bits of PHP and Laravel 11 behaviour the WapiFlow server shows through its API.

Pure functions with no HTTP and no third-party imports: PHP truthiness and loose comparison, the
request-input normalisation (TrimStrings, ConvertEmptyStringsToNull, ``a[]=`` form arrays), the
validator subset the controllers use (with the app's Laravel-8-style wording), the
``LengthAwarePaginator`` dict, MySQL's ``LIKE`` and string-to-number comparisons, the JSON
encoding of ``JsonResponse`` and Laravel's stock error pages.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------------------------------
# PHP values
# ---------------------------------------------------------------------------------------------------

_NUMERIC_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_FILTER_INT_RE = re.compile(r"^\s*[+-]?(0|[1-9]\d*)\s*$")
_MYSQL_NUMBER_PREFIX_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def php_truthy(value: Any) -> bool:
    """PHP's boolean conversion: ``""``, ``"0"``, ``0``, ``0.0``, ``[]`` and null are false."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (list, dict)):
        return len(value) > 0
    return True


def is_numeric(value: Any) -> bool:
    """PHP ``is_numeric``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and bool(_NUMERIC_RE.match(value))


def php_str(value: Any) -> str:
    """PHP's ``(string)`` cast for scalars."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def loose_equals(a: Any, b: Any) -> bool:
    """PHP 8 ``==`` for the scalar cases the server meets (numeric strings compare as numbers)."""
    if (a is None and isinstance(b, str)) or (b is None and isinstance(a, str)):
        return php_str(a) == php_str(b)
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return php_truthy(a) == php_truthy(b)
    if is_numeric(a) and is_numeric(b):
        return float(a) == float(b)
    return php_str(a) == php_str(b)


def filter_validate_int(value: Any) -> bool:
    """``filter_var($value, FILTER_VALIDATE_INT) !== false``."""
    if isinstance(value, bool):
        return value  # true casts to "1", false to ""
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and bool(_FILTER_INT_RE.match(value))


def mysql_number(value: Any) -> float:
    """How MySQL reads a string in a numeric comparison: its numeric prefix, else 0 ("12abc" is 12)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    match = _MYSQL_NUMBER_PREFIX_RE.match(php_str(value))
    return float(match.group(0)) if match else 0.0


def mysql_id_equals(column: int, value: Any) -> bool:
    """``WHERE id = ?`` with a route parameter: ``find("7abc")`` finds row 7, like MySQL does."""
    return float(column) == mysql_number(value)


def mysql_like(term: str, value: Any) -> bool:
    """``value LIKE '%term%'`` under a case-insensitive collation (``%`` and ``_`` are wildcards)."""
    return like_matcher(term)(php_str(value)) is not None


@functools.lru_cache(maxsize=256)
def like_matcher(term: str) -> Callable[[str], re.Match[str] | None]:
    """``LIKE '%term%'`` compiled once: call it on ``php_str(value)``; a match object means it matches."""
    if not any(ch in term for ch in "%_\\"):
        # No wildcard: a substring search, several times faster than the anchored pattern below.
        return re.compile(re.escape(term), re.IGNORECASE | re.DOTALL).search
    pattern = ["^.*"]
    chars = iter(term)
    for ch in chars:
        if ch == "\\":
            pattern.append(re.escape(next(chars, "\\")))
        elif ch == "%":
            pattern.append(".*")
        elif ch == "_":
            pattern.append(".")
        else:
            pattern.append(re.escape(ch))
    pattern.append(".*$")
    return re.compile("".join(pattern), re.IGNORECASE | re.DOTALL).match


# ---------------------------------------------------------------------------------------------------
# Request input
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart body."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def client_extension(self) -> str:
        return self.filename.rsplit(".", 1)[-1].lower() if "." in self.filename else ""

    def guess_mime(self) -> str:
        """The MIME type from the content, like PHP's fileinfo (the client's claim is ignored)."""
        data = self.data
        if data.startswith(b"\xff\xd8\xff"):
            return "image/jpeg"
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return "image/png"
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return "image/gif"
        if data.startswith(b"BM"):
            return "image/bmp"
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return "image/webp"
        if data.startswith(b"%PDF"):
            return "application/pdf"
        if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
            return "application/msword"
        if data.startswith(b"PK\x03\x04"):
            if b"word/" in data[:4096]:
                return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            return "application/zip"
        if data[4:8] == b"ftyp":
            return "video/mp4"
        if data.startswith((b"ID3", b"\xff\xfb", b"\xff\xf3")):
            return "audio/mpeg"
        if data.startswith(b"OggS"):
            return "audio/ogg"
        if not data:
            return "application/x-empty"
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return "application/octet-stream"
        return "text/plain"

    def guess_extension(self) -> str:
        """Symfony's ``guessExtension()``: the extension of the content's MIME type."""
        return _EXTENSIONS.get(self.guess_mime(), "")


_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/webp": "webp",
    "application/pdf": "pdf",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/zip": "zip",
    "video/mp4": "mp4",
    "audio/mpeg": "mp3",
    "audio/ogg": "oga",
    "text/plain": "txt",
}


def php_array_from_pairs(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Build PHP's ``$_GET``/``$_POST`` from raw pairs: ``a[]=1&a[]=2`` is a list, the last ``a=`` wins."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        name, _, rest = raw_key.partition("[")
        if not name:
            continue
        # PHP turns spaces and dots of the top-level name into underscores.
        name = name.replace(" ", "_").replace(".", "_")
        subkeys = re.findall(r"\[([^\]]*)\]", "[" + rest) if rest else []
        if not subkeys:
            root[name] = value
            continue
        node = root.get(name)
        if not isinstance(node, dict):
            node = root[name] = {}
        for i, sub in enumerate(subkeys):
            last = i == len(subkeys) - 1
            if sub == "":
                ints = [k for k in node if isinstance(k, int)]
                sub_key: Any = max(ints) + 1 if ints else 0
            else:
                sub_key = int(sub) if re.fullmatch(r"0|-?[1-9]\d*", sub) else sub
            if last:
                node[sub_key] = value
            else:
                child = node.get(sub_key)
                if not isinstance(child, dict):
                    child = node[sub_key] = {}
                node = child
    return {k: _listify(v) for k, v in root.items()}


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {k: _listify(v) for k, v in value.items()}
    if list(items) == list(range(len(items))):
        return list(items.values())
    return {str(k): v for k, v in items.items()}


_TRIM_CHARS = " \t\n\r\x0b\x0c\x00\ufeff\u200b\u200e\u00a0\u2000\u2001\u2002\u2003\u2028\u2029\u3000"


def normalise_input(value: Any) -> Any:
    """Laravel's global TrimStrings and ConvertEmptyStringsToNull middleware, applied recursively."""
    if isinstance(value, str):
        trimmed = value.strip(_TRIM_CHARS)
        return trimmed if trimmed != "" else None
    if isinstance(value, list):
        return [normalise_input(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise_input(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------------
# Validation (the subset of Illuminate\Validation the controllers use)
# ---------------------------------------------------------------------------------------------------

CustomRule = Callable[[str, Any], "str | None"]
"""A rule object: gets (attribute, value), returns an error message or None."""

_IMPLICIT = {"required", "required_if", "required_without_all"}
_IMAGE_EXTENSIONS = ["jpg", "jpeg", "png", "gif", "bmp", "svg", "webp"]


def _display(attribute: str) -> str:
    return attribute.replace("_", " ")


def _is_filled(value: Any) -> bool:
    """``validateRequired``."""
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, (list, dict)):
        return len(value) > 0
    if isinstance(value, UploadedFile):
        return True
    return True


def _displayable_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "empty"
    return php_str(value)


class Validator:
    """``Validator::make($data, $rules, $messages)->errors()->all()``.

    ``rules`` is an ordered list of (attribute, rules), where a rule is a Laravel rule string
    (``"max:40"``) or a callable rule object. Messages come back in rule order; an attribute stops
    at its first failing *implicit* rule (``required``…), like Laravel.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        rules: Sequence[tuple[str, Sequence[str | CustomRule]]],
        messages: Mapping[str, str] | None = None,
    ) -> None:
        self.data = data
        self.rules = rules
        self.custom = dict(messages or {})

    def errors(self) -> list[str]:
        errors: list[str] = []
        for attribute, rules in self.rules:
            names = {r.split(":", 1)[0] for r in rules if isinstance(r, str)}
            present = attribute in self.data
            value = self.data.get(attribute)
            for rule in rules:
                if callable(rule):
                    if present and not (value is None and "nullable" in names):
                        message = rule(attribute, value)
                        if message:
                            errors.append(message)
                    continue
                name, _, arg = rule.partition(":")
                if name == "nullable":
                    continue
                params = arg.split(",") if arg else []
                implicit = name in _IMPLICIT
                if not implicit:
                    if not present or (value is None and "nullable" in names):
                        continue
                    if isinstance(value, str) and value.strip() == "":
                        continue
                message = self._check(attribute, value, name, params, names)
                if message is None:
                    continue
                errors.append(message)
                if implicit:
                    break
        return errors

    def _message(self, attribute: str, rule: str, default: str) -> str:
        return self.custom.get(f"{attribute}.{rule}", default)

    def _check(self, attribute: str, value: Any, rule: str, params: list[str], names: set[str]) -> str | None:
        attr = _display(attribute)
        msg = self._message
        if rule == "required":
            return None if _is_filled(value) else msg(attribute, rule, f"The {attr} field is required.")
        if rule == "required_if":
            other, expected = params[0], params[1:]
            other_value = self.data.get(other)
            if isinstance(other_value, bool) or other_value is None:
                # Laravel converts "true"/"false"/"null" and then compares strictly.
                literal = {True: "true", False: "false", None: "null"}[other_value]
                hit = literal in expected
            else:
                hit = any(loose_equals(other_value, v) for v in expected)
            if not hit or _is_filled(value):
                return None
            shown = _displayable_value(other_value)
            return msg(attribute, rule, f"The {attr} field is required when {_display(other)} is {shown}.")
        if rule == "required_without_all":
            if any(_is_filled(self.data.get(p)) for p in params) or _is_filled(value):
                return None
            others = " / ".join(_display(p) for p in params)
            return msg(attribute, rule, f"The {attr} field is required when none of {others} are present.")
        if rule == "string":
            return None if isinstance(value, str) else msg(attribute, rule, f"The {attr} must be a string.")
        if rule in ("integer", "int"):
            return None if filter_validate_int(value) else msg(attribute, rule, f"The {attr} must be an integer.")
        if rule == "in":
            ok = not isinstance(value, (list, dict)) and any(loose_equals(php_str(value), p) for p in params)
            return None if ok else msg(attribute, rule, f"The selected {attr} is invalid.")
        if rule == "regex":
            pattern = params[0] if len(params) == 1 else ",".join(params)
            matched = (isinstance(value, str) or is_numeric(value)) and re.search(pattern, php_str(value)) is not None
            return None if matched else msg(attribute, rule, f"The {attr} format is invalid.")
        if rule == "file":
            return None if isinstance(value, UploadedFile) else msg(attribute, rule, f"The {attr} must be a file.")
        if rule == "image":
            ok = isinstance(value, UploadedFile) and value.guess_extension() in _IMAGE_EXTENSIONS
            return None if ok else msg(attribute, rule, f"The {attr} must be an image.")
        if rule == "mimes":
            allowed = list(params)
            if "jpg" in allowed or "jpeg" in allowed:
                allowed += ["jpg", "jpeg"]
            ok = isinstance(value, UploadedFile) and value.guess_extension() in allowed
            shown = ", ".join(params)
            return None if ok else msg(attribute, rule, f"The {attr} must be a file of type: {shown}.")
        if rule == "max":
            limit = float(params[0])
            return self._check_max(attribute, value, limit, params[0], names)
        raise ValueError(f"rule {rule!r} is not modelled")

    def _check_max(self, attribute: str, value: Any, limit: float, shown: str, names: set[str]) -> str | None:
        attr = _display(attribute)
        if isinstance(value, UploadedFile):
            ok, text = value.size / 1024 <= limit, f"The {attr} must not be greater than {shown} kilobytes."
        elif isinstance(value, (list, dict)):
            ok, text = len(value) <= limit, f"The {attr} must not have more than {shown} items."
        elif names & {"numeric", "integer", "int"} and is_numeric(value):
            ok, text = float(value) <= limit, f"The {attr} must not be greater than {shown}."
        else:
            ok, text = len(php_str(value)) <= limit, f"The {attr} must not be greater than {shown} characters."
        return None if ok else self._message(attribute, "max", text)


# ---------------------------------------------------------------------------------------------------
# Pagination: getPaginate() + Builder::paginate() + LengthAwarePaginator::toArray()
# ---------------------------------------------------------------------------------------------------

# The app's lang/en/pagination.php: single angle quotation marks, not stock Laravel's "&laquo; Previous".
PAGINATION_PREVIOUS = "\u2039"
PAGINATION_NEXT = "\u203a"
ON_EACH_SIDE = 3


def per_page_from(paginate: Any, default: int = 20) -> int:
    """``getPaginate()`` then ``paginate()``: non-numeric → 20, ``0`` → the model default 15."""
    value = default if paginate is None else paginate
    if not is_numeric(value):
        value = default
    number = float(value)
    if number == 0:
        return 15
    return int(max(min(number, 2**62), -(2**62)))


def current_page_from(page: Any) -> int:
    """``Paginator::resolveCurrentPage()``: a valid int >= 1, else 1."""
    if filter_validate_int(page) and not isinstance(page, bool) and int(float(php_str(page))) >= 1:
        return int(float(php_str(page)))
    return 1


def paginate(rows: Sequence[Any], *, page: Any, per_page: Any, path: str) -> dict[str, Any]:
    """The dict of a Laravel 11 ``LengthAwarePaginator`` over ``rows`` (already ordered)."""
    size = per_page_from(per_page)
    current = current_page_from(page)
    total = len(rows)
    if size > 0:
        offset = max(0, (current - 1) * size)
        items = list(rows[offset : offset + size])
        last_page = max(math.ceil(total / size), 1)
    else:  # a negative per-page: LIMIT is dropped and the OFFSET clamps at 0
        items = list(rows)
        last_page = 1

    def url(n: int) -> str:
        return f"{path}?page={max(n, 1)}"

    first_item = (current - 1) * size + 1 if items else None
    prev_url = url(current - 1) if current > 1 else None
    next_url = url(current + 1) if current < last_page else None
    links: list[dict[str, Any]] = [{"url": prev_url, "label": PAGINATION_PREVIOUS, "active": False}]
    for element in _url_window(current, last_page):
        if element is None:
            links.append({"url": None, "label": "...", "active": False})
        else:
            links.extend({"url": url(n), "label": str(n), "active": n == current} for n in element)
    links.append({"url": next_url, "label": PAGINATION_NEXT, "active": False})
    return {
        "current_page": current,
        "data": items,
        "first_page_url": url(1),
        "from": first_item,
        "last_page": last_page,
        "last_page_url": url(last_page),
        "links": links,
        "next_page_url": next_url,
        "path": path,
        "per_page": size,
        "prev_page_url": prev_url,
        "to": first_item + len(items) - 1 if first_item is not None else None,
        "total": total,
    }


def _url_window(current: int, last: int) -> list[range | None]:
    """``UrlWindow::get()`` flattened like ``elements()``: page ranges with None for each "..." gap."""
    each = ON_EACH_SIDE
    if last < each * 2 + 8:
        return [range(1, last + 1)]
    window = each + 4
    start, finish = range(1, 3), range(last - 1, last + 1)
    if current <= window:
        return [range(1, window + each + 1), None, finish]
    if current > last - window:
        return [start, None, range(last - (window + (each - 1)), last + 1)]
    return [start, None, range(current - each, current + each + 1), None, finish]


# ---------------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------------


def encode_json(payload: Any) -> bytes:
    """``json_encode($data)`` with no flags: compact, ``\\/`` for slashes, ``\\uXXXX`` for non-ASCII."""
    text = json.dumps(payload, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    # "/" only ever appears inside JSON strings, so a plain replace is safe.
    return text.replace("/", "\\/").encode("ascii")


# ---------------------------------------------------------------------------------------------------
# Error pages
# ---------------------------------------------------------------------------------------------------


def laravel_error_page(status: int, title: str) -> str:
    """Laravel's stock HTML error page (what a PHP error or an unknown non-API route answers)."""
    return f"""<!DOCTYPE html>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{title}</title>
    </head>
    <body class="antialiased">
        <div class="relative flex items-top justify-center min-h-screen sm:items-center sm:pt-0">
            <div class="max-w-xl mx-auto sm:px-6 lg:px-8">
                <div class="flex items-center pt-8 sm:justify-start sm:pt-0">
                    <div class="px-4 text-lg text-gray-500 border-r border-gray-400 tracking-wider">{status}</div>
                    <div class="ml-4 text-lg text-gray-500 uppercase tracking-wider">{title}</div>
                </div>
            </div>
        </div>
    </body>
</html>
"""


NOT_FOUND_PAGE = laravel_error_page(404, "Not Found")
SERVER_ERROR_PAGE = laravel_error_page(500, "Server Error")
