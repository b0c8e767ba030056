"""
The request of each WapiFlow endpoint: what to send, checked, before anything is sent.

One builder per endpoint returns an :class:`ApiRequest` (method, path, query, form, files). The
hooks' endpoint methods (:class:`~airflow_provider_wapiflow.hooks.wapiflow.WapiFlowHook` and its async
twin share one definition) build their request here and send it with the hook's ``call()``; a send
method is exactly ``call(endpoints.send_message(...))``. The send operators and the notifier build
every request first, so that bad input of any recipient is refused before the first message goes
out, then send each one with ``hook.call(request)``: the same code.

Every builder checks its input and raises :class:`~airflow_provider_wapiflow.exceptions.WapiFlowInputError`
before any request exists, so bad input never reaches WapiFlow. Paths, query names and form field
names are the server's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_wapiflow.exceptions import WapiFlowInputError
from airflow_provider_wapiflow.media import MediaFile, MediaSource, load_media
from airflow_provider_wapiflow.models import ConversationStatus, phone_fields
from airflow_provider_wapiflow.variables import check_variables

#: contact/store and contact/update validate ``firstname`` and ``lastname`` as ``required|string|max:40``.
NAME_MAX_LENGTH = 40
#: The validation message of contact/store when the mobile belongs to another contact of the account.
TAKEN_MOBILE = "The mobile has already been taken."

Form = list[tuple[str, str]]


@dataclass(frozen=True)
class ApiRequest:
    """One call to WapiFlow, before the base URL and credentials are added."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    form: Form = field(default_factory=list)
    files: dict[str, MediaFile] = field(default_factory=dict)
    is_send: bool = False
    """A WhatsApp message goes out if this succeeds (send-message, send-template-message)."""

    @property
    def safe(self) -> bool:
        """Whether repeating the request can have no extra effect (reads)."""
        return self.method == "GET"

    def describe(self) -> str:
        """``METHOD path`` for logs and errors, without any personal data."""
        return f"{self.method} {self.path}"


def _int_param(name: str, value: Any, *, minimum: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise WapiFlowInputError(f"'{name}' must be an integer >= {minimum}, got {value!r}")
    return str(value)


def _id(name: str, value: Any) -> str:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return _int_param(name, value, minimum=1)


def _page_params(page: int, per_page: int, search: str | None) -> dict[str, str]:
    params = {
        "page": _int_param("page", page, minimum=1),
        "paginate": _int_param("per_page", per_page, minimum=1),
    }
    if search is not None:
        if not isinstance(search, str):
            raise WapiFlowInputError(f"'search' must be a string, got {type(search).__name__}")
        if search:
            params["search"] = search
    return params


def _phone_fields(mobile_code: Any, mobile: Any) -> Form:
    code, number = phone_fields(mobile_code, mobile)
    return [("mobile_code", code), ("mobile", number)]


def list_contacts(page: int = 1, per_page: int = 20, search: str | None = None) -> ApiRequest:
    """contact/list: one page of contacts (``search`` fails on the server: docs/server-bugs.rst#bug-contact-search)."""
    return ApiRequest("GET", "contact/list", params=_page_params(page, per_page, search))


def save_contact(
    contact_id: int | None,
    firstname: str,
    lastname: str,
    mobile_code: str,
    mobile: str,
    city: str | None = None,
    state: str | None = None,
    post_code: str | None = None,
    address: str | None = None,
    profile_image: MediaSource | None = None,
) -> ApiRequest:
    """contact/store, or contact/update/{id}: a full replace, so every field is sent."""
    form: Form = []
    for name, value in (("firstname", firstname), ("lastname", lastname)):
        if not isinstance(value, str) or not value.strip():
            raise WapiFlowInputError(f"'{name}' is required and must be a non-empty string")
        if len(value) > NAME_MAX_LENGTH:
            raise WapiFlowInputError(f"'{name}' must not be longer than {NAME_MAX_LENGTH} characters")
        form.append((name, value))
    form += _phone_fields(mobile_code, mobile)
    for name, optional in (("city", city), ("state", state), ("post_code", post_code), ("address", address)):
        if optional is None:
            continue
        if not isinstance(optional, str):
            raise WapiFlowInputError(f"'{name}' must be a string, got {type(optional).__name__}")
        form.append((name, optional))
    files = {"profile_image": load_media("profile_image", profile_image)} if profile_image is not None else {}
    path = "contact/store" if contact_id is None else f"contact/update/{_id('contact_id', contact_id)}"
    return ApiRequest("POST", path, form=form, files=files)


def delete_contact(contact_id: int) -> ApiRequest:
    """contact/delete/{id}."""
    return ApiRequest("DELETE", f"contact/delete/{_id('contact_id', contact_id)}")


def list_conversations(
    status: int | None = None, page: int = 1, per_page: int = 20, search: str | None = None
) -> ApiRequest:
    """inbox/conversation-list: one page of conversations, latest message first."""
    params = _page_params(page, per_page, search)
    if status is not None:
        params["status"] = str(int(ConversationStatus(status)))
    return ApiRequest("GET", "inbox/conversation-list", params=params)


def get_conversation(conversation_id: int) -> ApiRequest:
    """inbox/conversation-details/{id}: a conversation with its contact and notes."""
    return ApiRequest("GET", f"inbox/conversation-details/{_id('conversation_id', conversation_id)}")


def set_conversation_status(conversation_id: int, status: int) -> ApiRequest:
    """inbox/change-conversation-status/{id}: any :class:`ConversationStatus` but UNREAD."""
    try:
        value = ConversationStatus(status)
    except ValueError:
        raise WapiFlowInputError(f"'status' must be a ConversationStatus (0-3), got {status!r}") from None
    if value is ConversationStatus.UNREAD:
        raise WapiFlowInputError(
            "'status' UNREAD (4) cannot be set through the API: WapiFlow accepts NONE (0), DONE (1), "
            "PENDING (2) and IMPORTANT (3)"
        )
    path = f"inbox/change-conversation-status/{_id('conversation_id', conversation_id)}"
    return ApiRequest("POST", path, form=[("status", str(int(value)))])


def list_templates(page: int = 1, per_page: int = 20) -> ApiRequest:
    """inbox/template-list: one page of templates, every status."""
    return ApiRequest("GET", "inbox/template-list", params=_page_params(page, per_page, None))


def _variable_fields(name: str, values: Sequence[Any] | None) -> Form:
    """The form fields ``name[]`` of checked template variables (see :mod:`~airflow_provider_wapiflow.variables`)."""
    return [(f"{name}[]", text) for text in check_variables(values, name) or ()]


def send_template_message(
    mobile_code: str,
    mobile: str,
    template_id: int,
    from_number: str | None = None,
    body_variables: Sequence[Any] | None = None,
    header_variables: Sequence[Any] | None = None,
) -> ApiRequest:
    """inbox/send-template-message: an approved template, its variables checked (:func:`check_variables`)."""
    form = _phone_fields(mobile_code, mobile)
    form.append(("template_id", _id("template_id", template_id)))
    if from_number:
        form.append(("from_number", str(from_number)))
    form += _variable_fields("body_variables", body_variables)
    form += _variable_fields("header_variables", header_variables)
    return ApiRequest("POST", "inbox/send-template-message", form=form, is_send=True)


def _coordinate(name: str, value: Any, limit: float) -> str:
    """
    A coordinate as WapiFlow must get it: a number in range, written so that PHP reads it as true.

    WapiFlow tests ``$request->latitude && $request->longitude``: ``0`` and ``"0"`` are false in PHP
    and turn the location into an empty text (docs/server-bugs.rst#bug-zero-coordinate), ``"0.0"`` is
    true. So every coordinate is sent in fixed notation with at least one decimal (7 at most, about
    1 cm): ``0`` -> ``"0.0"``.
    """
    if isinstance(value, bool) or value is None:
        raise WapiFlowInputError(f"'{name}' must be a number, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise WapiFlowInputError(f"'{name}' must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise WapiFlowInputError(f"'{name}' must be a finite number, got {value!r}")
    if not -limit <= number <= limit:
        raise WapiFlowInputError(f"'{name}' must be between -{limit:g} and {limit:g}, got {value!r}")
    text = f"{number:.7f}".rstrip("0")
    text = text + "0" if text.endswith(".") else text
    return "0.0" if text == "-0.0" else text


def send_message(
    mobile_code: str,
    mobile: str,
    message: str | None = None,
    from_number: str | None = None,
    image: MediaSource | None = None,
    document: MediaSource | None = None,
    video: MediaSource | None = None,
    audio: MediaSource | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    cta_url_id: int | None = None,
    interactive_list_id: int | None = None,
) -> ApiRequest:
    """inbox/send-message: a text, one media file, a location, a CTA URL or an interactive list."""
    form = _phone_fields(mobile_code, mobile)
    media = {
        kind: source
        for kind, source in (("image", image), ("document", document), ("video", video), ("audio", audio))
        if source is not None
    }
    if len(media) > 1:
        raise WapiFlowInputError(
            f"one media file per message, got {', '.join(media)}: WapiFlow would silently drop all but one"
        )
    # WapiFlow's required_if rules accept half a location and send an empty text.
    if (latitude is None) != (longitude is None):
        raise WapiFlowInputError("'latitude' and 'longitude' must be given together")
    location: Form = []
    if latitude is not None:
        location = [("latitude", _coordinate("latitude", latitude, 90)),
                    ("longitude", _coordinate("longitude", longitude, 180))]  # fmt: skip
    if message is not None and not isinstance(message, str):
        raise WapiFlowInputError(f"'message' must be a string, got {type(message).__name__}")
    has_location = latitude is not None
    if (
        not (message and message.strip())
        and not media
        and not has_location
        and cta_url_id is None
        and interactive_list_id is None
    ):
        raise WapiFlowInputError(
            "nothing to send: give 'message', a media file, a location, 'cta_url_id' or 'interactive_list_id'"
        )
    if message:
        form.append(("message", message))
    if from_number:
        form.append(("from_number", str(from_number)))
    form += location
    if cta_url_id is not None:
        form.append(("cta_url_id", _id("cta_url_id", cta_url_id)))
    if interactive_list_id is not None:
        form.append(("interactive_list_id", _id("interactive_list_id", interactive_list_id)))
    files = {kind: load_media(kind, source) for kind, source in media.items()}
    return ApiRequest("POST", "inbox/send-message", form=form, files=files, is_send=True)
